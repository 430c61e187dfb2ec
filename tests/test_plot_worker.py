"""The card's plots drawn by the plot worker (kgsynth.export.plots): an ad-hoc build imports
matplotlib in a child process, off its critical path. The worker's files are the bytes the
build's own process would draw; a dead or failing worker costs only the time: the plots are
drawn in-process instead."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from kgsynth.export import plots
from kgsynth.export.figures import draw_plots
from kgsynth.export.rows import rows_frame
from kgsynth.export.stats import DatasetStats, dataset_stats
from kgsynth.records import Reject


def _stats() -> DatasetStats:
    reasons = ["no_answer_entity"] * 5 + ["not_discriminative"] * 3 + ["no_path"]
    rejects = [
        Reject(id=f"r{i}", stage="link" if i < 5 else "evidence", reason=r)
        for i, r in enumerate(reasons)
    ]
    frame = pl.DataFrame([r.model_dump() for r in rejects])
    return dataset_stats(rows_frame([], "hpo", "h"), frame)


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


@pytest.fixture(autouse=True)
def _no_worker_left():
    yield
    plots.stop_worker()


def test_the_worker_draws_the_same_bytes_as_this_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    stats = _stats()
    plots.start_worker(force=True)
    with caplog.at_level(logging.WARNING, logger="kgsynth.export.plots"):
        got = plots.write_plots(tmp_path / "worker", stats)
    assert "plot worker failed" not in caplog.text  # the worker drew them
    assert sorted(got) == sorted(plots.PLOTS) and all(p.is_file() for p in got.values())
    draw_plots(tmp_path / "here", stats)
    assert _bytes(tmp_path / "worker") == _bytes(tmp_path / "here")
    assert plots._worker is None  # one request per worker: it is gone


def test_a_build_process_with_a_worker_never_imports_matplotlib(tmp_path: Path):
    code = (
        "import sys, json; from pathlib import Path; import polars as pl;"
        "from kgsynth.export import plots; from kgsynth.export.rows import rows_frame;"
        "from kgsynth.export.stats import dataset_stats;"
        "plots.start_worker(force=True);"
        "rej = pl.DataFrame({'id': ['a'], 'stage': ['link'], 'reason': ['no_answer_entity']});"
        "out = plots.write_plots(Path(sys.argv[1]), dataset_stats(rows_frame([], 'x', 'h'), rej));"
        "print(json.dumps({'matplotlib': 'matplotlib' in sys.modules,"
        "'files': sorted(p.name for p in out.values() if p.is_file())}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "plots")],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"matplotlib": False, "files": sorted(f"{n}.png" for n in plots.PLOTS)}


def test_a_dead_worker_means_the_plots_are_drawn_here(tmp_path: Path):
    plots.start_worker(force=True)
    assert plots._worker is not None
    plots._worker.kill()
    plots._worker.wait()
    got = plots.write_plots(tmp_path, _stats())
    assert all(p.stat().st_size > 1000 for p in got.values())


def test_a_failing_worker_is_logged_and_the_plots_are_drawn_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    plots.start_worker(force=True)
    # the worker finds no stats where it is told to look: it replies with the error
    monkeypatch.setattr(plots, "_save_stats", lambda folder, stats: None)
    with caplog.at_level(logging.WARNING, logger="kgsynth.export.plots"):
        got = plots.write_plots(tmp_path, _stats())
    assert all(p.stat().st_size > 1000 for p in got.values())
    assert "plot worker failed (FileNotFoundError" in caplog.text
