"""The dataset card's plots: their names, and where they are drawn.

Drawing (kgsynth.export.figures) needs matplotlib: ~0.6 s to import and ~0.6 s to draw the
five figures, a fifth of an ad-hoc sample build. So `kgsynth build` starts a plot worker
(`start_worker`) first thing, when a core is idle: a child process that imports matplotlib
on that core while the build imports Prefect and runs its stages, and draws when
`write_plots` hands it the stats. Without a worker (flows run by Prefect, tests, a busy
machine) or when the worker fails, the plots are drawn in this process; either way the files
hold the same bytes.

The worker takes one request from its parent's pipe (a folder of Arrow files and the folder
to draw into, both made by the parent) and exits; it reads nothing else.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

from kgsynth.export.stats import DatasetStats

log = logging.getLogger(__name__)

# file stem -> alt text, in the card's order (the figures: kgsynth.export.figures.FIGURES)
PLOTS = {
    "path_lengths": "KG path length",
    "entity_types": "Linked entity types",
    "relations": "Relations on KG paths",
    "check_pass_rates": "Pass rate by check",
    "rejects": "Rejected rows by stage and reason",
}
WORKER_TIMEOUT_S = 300.0  # a worker that has not drawn by then is killed; the plots are drawn here

_worker: subprocess.Popen[bytes] | None = None


def start_worker(*, force: bool = False) -> None:
    """Start the plot worker (once per process), so that matplotlib is imported off the
    critical path; `write_plots` uses it. Only with a core to spare (or `force`): on a busy
    machine the worker's own start-up (~1 s of CPU) competes with the build for one core,
    and the build ends later, not sooner."""
    global _worker
    idle = (os.cpu_count() or 1) - os.getloadavg()[0] >= 1.0
    if _worker is None and (idle or force):
        _worker = subprocess.Popen(
            [sys.executable, "-m", "kgsynth.export.plots"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        atexit.register(stop_worker)


def stop_worker() -> None:
    """End an unused worker (a build that failed before its export)."""
    global _worker
    w, _worker = _worker, None
    if w is not None and w.poll() is None:
        w.kill()
        w.communicate()


def _save_stats(folder: Path, stats: DatasetStats) -> None:
    counts = {}
    for f in dataclasses.fields(stats):
        value = getattr(stats, f.name)
        if isinstance(value, pl.DataFrame):
            value.write_ipc(folder / f"{f.name}.arrow")
        else:
            counts[f.name] = value
    (folder / "counts.json").write_text(json.dumps(counts))


def _load_stats(folder: Path) -> DatasetStats:
    counts = json.loads((folder / "counts.json").read_text())
    frames = {
        f.name: pl.read_ipc(folder / f"{f.name}.arrow")
        for f in dataclasses.fields(DatasetStats)
        if f.name not in counts
    }
    return DatasetStats(**counts, **frames)


def _draw_in_worker(w: subprocess.Popen[bytes], folder: Path, stats: DatasetStats) -> bool:
    with tempfile.TemporaryDirectory(prefix="kgsynth-plots-") as tmp:
        _save_stats(Path(tmp), stats)
        request = json.dumps({"stats": tmp, "folder": str(folder)}).encode() + b"\n"
        try:
            out, _ = w.communicate(request, timeout=WORKER_TIMEOUT_S)
        except (subprocess.TimeoutExpired, OSError) as e:
            w.kill()
            w.communicate()
            log.warning("plot worker failed (%s); drawing the plots here", type(e).__name__)
            return False
    try:
        reply = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        reply = {"error": f"no reply (exit status {w.returncode})"}
    if reply.get("ok") and all((folder / f"{n}.png").is_file() for n in PLOTS):
        return True
    log.warning("plot worker failed (%s); drawing the plots here", reply.get("error"))
    return False


def write_plots(folder: Path, stats: DatasetStats) -> dict[str, Path]:
    """Every plot as folder/<name>.png (by the worker when one was started); returns name ->
    path."""
    global _worker
    w, _worker = _worker, None
    if w is None or w.poll() is not None or not _draw_in_worker(w, folder, stats):
        from kgsynth.export.figures import draw_plots

        draw_plots(folder, stats)
    return {name: folder / f"{name}.png" for name in PLOTS}


def _serve() -> None:
    """The worker: import the figures, then draw the one request its parent sends."""
    from kgsynth.export.figures import draw_plots  # the point: before the request comes

    line = sys.stdin.readline()
    if not line:  # the parent ended without asking
        return
    try:
        req = json.loads(line)
        draw_plots(Path(req["folder"]), _load_stats(Path(req["stats"])))
        reply: dict[str, object] = {"ok": True}
    except Exception as e:  # noqa: BLE001 - the parent draws instead and logs why
        reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    _serve()
