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

Drawn plots are kept in the cache folder (`<cache_dir>/plots/<key>/`, the newest
`MAX_CACHED`), keyed by everything that decides their bytes: the statistics, this module's
and the figures' code, the installed matplotlib, Pillow and NumPy, and any matplotlibrc.
A build whose statistics were drawn before (a warm re-run) copies them from there and
neither imports matplotlib nor starts a worker: the CLI starts the worker only once a stage
does per-row work (kgsynth.progress `on_work`), i.e. when a shard is not in the shard cache.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import polars as pl

from kgsynth import cache_layout as layout
from kgsynth import manifest
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
CACHE_VERSION = layout.PLOTS_VERSION
CACHE_FOLDER = layout.PLOTS  # under the build's cache folder
MAX_CACHED = 32  # plot sets kept in the cache, the most recently used

_worker: subprocess.Popen[bytes] | None = None
_worker_lock = threading.Lock()  # a shard's thread may start it (kgsynth.progress on_work)


def start_worker(*, force: bool = False) -> None:
    """Start the plot worker (once per process), so that matplotlib is imported off the
    critical path; `write_plots` uses it. Only with a core to spare (or `force`): on a busy
    machine the worker's own start-up (~1 s of CPU) competes with the build for one core,
    and the build ends later, not sooner."""
    global _worker
    idle = (os.cpu_count() or 1) - os.getloadavg()[0] >= 1.0
    with _worker_lock:
        if _worker is None and (idle or force):
            _worker = subprocess.Popen(
                [sys.executable, "-m", "kgsynth.export.plots"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            atexit.register(stop_worker)


def stop_worker() -> None:
    """End an unused worker (a build that failed before its export, or whose plots were
    in the cache)."""
    global _worker
    with _worker_lock:
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


def write_plots(
    folder: Path, stats: DatasetStats, cache_dir: Path | None = None
) -> dict[str, Path]:
    """Every plot as folder/<name>.png (from `cache_dir`'s plot cache when these stats were
    drawn before, else by the worker when one was started, else here); returns name ->
    path."""
    global _worker
    key = _cache_key(stats) if cache_dir is not None else None
    if cache_dir is not None and key is not None and _from_cache(cache_dir, key, folder):
        stop_worker()  # not needed: nothing to draw
        return {name: folder / f"{name}.png" for name in PLOTS}
    with _worker_lock:
        w, _worker = _worker, None
    if w is None or w.poll() is not None or not _draw_in_worker(w, folder, stats):
        from kgsynth.export.figures import draw_plots

        draw_plots(folder, stats)
    if cache_dir is not None and key is not None:
        _to_cache(cache_dir, key, folder)
    return {name: folder / f"{name}.png" for name in PLOTS}


# -- the plot cache ---------------------------------------------------------------------------


def _package_stamp(name: str) -> str:
    """An installed package's identity without importing it: where it is, and the size and
    mtime of its __init__ and _version files (an upgrade rewrites them)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return f"{name}:-"
    init = Path(spec.origin)
    parts = [f"{name}:{init.parent}"]
    for f in (init, init.with_name("_version.py"), init.with_name("version.py")):
        if f.is_file():
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return ",".join(parts)


def _rc_files() -> list[Path]:
    """The matplotlibrc files matplotlib may read (its style decides the pixels)."""
    home = Path.home()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "matplotlib"
    candidates = [Path.cwd() / "matplotlibrc", config / "matplotlibrc"]
    for var in ("MATPLOTLIBRC", "MPLCONFIGDIR"):
        if value := os.environ.get(var):
            candidates += [Path(value), Path(value) / "matplotlibrc"]
    return [p for p in candidates if p.is_file()]


def _cache_key(stats: DatasetStats) -> str | None:
    """What decides the plots' bytes, hashed; None when it cannot be read (no caching)."""
    try:
        h = hashlib.sha256(CACHE_VERSION.encode())
        here = Path(__file__)
        for f in (here, here.with_name("figures.py")):
            h.update(f.read_bytes())
        for name in ("matplotlib", "PIL", "numpy"):
            h.update(_package_stamp(name).encode())
        for env in ("MPLBACKEND", "MPLCONFIGDIR", "MATPLOTLIBRC"):
            h.update(f"{env}={os.environ.get(env, '')}".encode())
        for rc in _rc_files():
            h.update(str(rc).encode() + b"\0" + rc.read_bytes())
        for f in dataclasses.fields(stats):
            value = getattr(stats, f.name)
            if isinstance(value, pl.DataFrame):
                doc = [str(value.schema), value.rows()]
            else:
                doc = value
            h.update(f"\0{f.name}=".encode())
            h.update(json.dumps(doc, default=repr).encode())
    except (OSError, ValueError, ImportError) as e:
        log.debug("no plot cache key (%s)", e)
        return None
    return h.hexdigest()


def _from_cache(cache_dir: Path, key: str, folder: Path) -> bool:
    """Copy the plots cached under `key` into `folder`; whether they were all there."""
    entry = cache_dir / CACHE_FOLDER / key[:40]
    sources = [entry / f"{name}.png" for name in PLOTS]
    if not entry.is_dir():
        return False
    # the cache folder is not trusted: every file must match the manifest written with it,
    # else the entry goes (one warning) and the plots are drawn again
    why = manifest.problem(entry, layout.PLOTS, CACHE_VERSION, full=True)
    if why is None and not all(p.is_file() for p in sources):
        why = "a plot is missing"
    if why is not None:
        manifest.discard(entry, "plot cache entry", why)
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for src in sources:
            shutil.copyfile(src, folder / src.name)
        os.utime(entry)  # recently used: pruned last
    except OSError as e:
        log.debug("plot cache not read (%s)", e)
        return False
    return True


def _to_cache(cache_dir: Path, key: str, folder: Path) -> None:
    """Keep the plots just drawn in `folder` under `key` (whole or not at all), and prune
    the cache to its newest MAX_CACHED sets. A cache that cannot be written is skipped."""
    root = cache_dir / CACHE_FOLDER
    entry = root / key[:40]
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        try:
            for name in PLOTS:
                shutil.copyfile(folder / f"{name}.png", tmp / f"{name}.png")
            manifest.write(tmp, layout.PLOTS, CACHE_VERSION)
            if entry.exists():
                shutil.rmtree(entry)  # a partial set (the files were removed by hand)
            tmp.rename(entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        entries = sorted(
            (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime_ns,
            reverse=True,
        )
        for old in entries[MAX_CACHED:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        log.debug("plot cache not written (%s)", e)


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
