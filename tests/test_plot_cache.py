"""The card's plots come from the plot cache (kgsynth.export.plots) when the same statistics
were drawn before: the same bytes, no matplotlib, no worker; and the CLI's plot worker starts
only once a stage does per-row work (kgsynth.progress `on_work`), never on a warm build."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from kgsynth.export import plots
from kgsynth.export.rows import rows_frame
from kgsynth.export.stats import DatasetStats, dataset_stats
from kgsynth.progress import RUN_BAR, _Progress
from kgsynth.records import Reject


def _stats(n_rejects: int = 3) -> DatasetStats:
    rejects = [
        Reject(id=f"r{i}", stage="link", reason="no_answer_entity") for i in range(n_rejects)
    ]
    frame = pl.DataFrame([r.model_dump() for r in rejects])
    return dataset_stats(rows_frame([], "hpo", "h"), frame)


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


@pytest.fixture(autouse=True)
def _no_worker_left():
    yield
    plots.stop_worker()


def test_cached_plots_are_the_bytes_drawn_and_need_no_drawing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cache = tmp_path / "cache"
    first = plots.write_plots(tmp_path / "a", _stats(), cache)
    assert sorted(first) == sorted(plots.PLOTS) and all(p.is_file() for p in first.values())
    assert len(list((cache / plots.CACHE_FOLDER).iterdir())) == 1

    import kgsynth.export.figures as figures

    def no_drawing(*a: object, **k: object) -> None:
        raise AssertionError("drawn, not taken from the cache")

    monkeypatch.setattr(figures, "draw_plots", no_drawing)
    plots.start_worker(force=True)  # a worker that is not needed is ended
    again = plots.write_plots(tmp_path / "b", _stats(), cache)
    assert plots._worker is None
    assert sorted(again) == sorted(first)
    assert _bytes(tmp_path / "b") == _bytes(tmp_path / "a")


def test_other_statistics_are_drawn_anew(tmp_path: Path):
    cache = tmp_path / "cache"
    plots.write_plots(tmp_path / "a", _stats(3), cache)
    plots.write_plots(tmp_path / "b", _stats(4), cache)
    assert len(list((cache / plots.CACHE_FOLDER).iterdir())) == 2
    assert _bytes(tmp_path / "a")["rejects.png"] != _bytes(tmp_path / "b")["rejects.png"]


def test_an_incomplete_entry_is_drawn_again(tmp_path: Path):
    cache = tmp_path / "cache"
    plots.write_plots(tmp_path / "a", _stats(), cache)
    (entry,) = (cache / plots.CACHE_FOLDER).iterdir()
    (entry / "rejects.png").unlink()
    plots.write_plots(tmp_path / "b", _stats(), cache)
    assert _bytes(tmp_path / "b") == _bytes(tmp_path / "a")
    assert (entry / "rejects.png").is_file()  # the entry is whole again


def test_a_tampered_entry_is_discarded_and_drawn_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """The cache folder is not trusted: a plot swapped for other bytes does not reach the
    dataset; the entry goes with one warning and the plots are drawn again."""
    from kgsynth.cache_inventory import entries, verify

    cache = tmp_path / "cache"
    plots.write_plots(tmp_path / "a", _stats(), cache)
    (entry,) = (cache / plots.CACHE_FOLDER).iterdir()
    (listed,) = [e for e in entries(cache) if e.kind == "plots"]
    assert listed.path == entry and verify(listed) is None  # `kgsynth cache` sees it whole
    (entry / "rejects.png").write_bytes(b"\x89PNG not the plot that was drawn")
    assert "rejects.png" in (verify(listed) or "")
    with caplog.at_level("WARNING"):
        plots.write_plots(tmp_path / "b", _stats(), cache)
    assert _bytes(tmp_path / "b") == _bytes(tmp_path / "a")
    assert any("plot cache entry" in r.getMessage() for r in caplog.records)
    (listed,) = [e for e in entries(cache) if e.kind == "plots"]
    assert verify(listed) is None  # drawn and cached again, whole


def test_the_cache_keeps_the_newest_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(plots, "MAX_CACHED", 2)
    cache = tmp_path / "cache"
    for n in range(4):
        plots.write_plots(tmp_path / f"o{n}", _stats(n + 1), cache)
    assert len(list((cache / plots.CACHE_FOLDER).iterdir())) == 2


def test_on_work_fires_once_for_a_stage_not_for_the_run_bar():
    p = _Progress()
    calls: list[int] = []
    p.on_work = lambda: calls.append(1)
    p.start(RUN_BAR, 10)  # a warm build's only bar: every shard came from the cache
    assert calls == []
    with p.muted():  # a shard's stages are muted in a sharded build: still work
        p.start("link", 5)
    p.start("evidence", 5)
    assert calls == [1] and p.on_work is None
