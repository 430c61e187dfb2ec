"""How a build's cost grows with its input: wall time, rows/s and peak memory per input size.

Input: MedQA's test questions (1,273, the shared file) followed by perturbed copies of them
(bench/perturb.py: a sentence dropped, 10 % of the words replaced, options shuffled; ids
`<id>~p<copy>`, so every synthetic row is marked as such), written once to a temporary
folder (never committed) at the largest size; each size builds a file of the first N rows
of it (`prefix_file`), so a smaller input is a prefix of a larger one. (Not the large file
with `--limit N`: the reader parses a whole file before it applies the limit, and every
size would pay for reading the largest input.)

Each build is the real CLI (`kgsynth build`) in a subprocess, offline generator, HPO KG,
shards of --shard-size rows, no shard result cache (every shard really runs) and
deduplication off (perturbed copies of one question are near duplicates by design; dedup
is a whole-input step outside the streamed stages). The on-disk KG and alias-index caches
are filled by an untimed warm-up build first. Per build:
  - wall_s: the subprocess from start to exit (Python start-up, flow, export, plots);
    shards_s: the flow's sharded stages; rows_per_s: input rows / wall_s;
  - peak_rss_tree_mb: the largest sum of the RSS of the build's process tree (the CLI, any
    Prefect server it starts, Dask workers), sampled every --sample-s seconds;
    peak_rss_main_mb: the CLI process's own peak (its rusage, exact);
  - exported / rejected rows and shards (build.json).
With --dask-sizes, the same sizes also run with `--task-runner dask --workers 2`.

Slice check: the first --slice rows (5,000) are built again in one batch (one shard) and
compared with the same ids' rows and rejects of the largest streamed build (a digest of
each, `created_at` aside): the streamed build gives the one-batch rows.

Usage: python bench/scale_rows.py [--sizes 1000,10000,50000,200000] [--dask-sizes 1000,10000]
       [--slice 5000] [--shard-size 128] [--result PATH]
The summary is the last line (JSON) and bench/results/scale_rows.json, which only the
default run writes: a run with other sizes (a quick check, `--sizes 1000,50000
--dask-sizes ''`) writes its summary to --result (default: kgsynth-scale_rows.json in the
system's temporary folder). The builds run a snapshot of kgsynth/, flows/ and schemas/
copied at the start (PYTHONPATH), so an edit of the working tree during a long run cannot
change the rows between two builds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"
SNAPSHOT = ("kgsynth", "flows", "schemas")
CONFIG = "[dedup]\nenabled = false\n[run]\ncache_results = false\n"
RESULT = REPO / "bench" / "results" / "scale_rows.json"
_RUN_ARGS = ("sizes", "dask_sizes", "slice", "shard_size", "sample_s", "rss_limit_mb")


def make_input(path: Path, n: int, seed: int = 0) -> int:
    """MedQA's questions, then perturbed copies of them (copy-major), n rows in all."""
    from perturb import perturbed, to_row

    from kgsynth.qa import read_qa

    records = read_qa([MEDQA]).records
    copies = max(0, math.ceil((n - len(records)) / len(records)))
    written = 0
    with path.open("w", encoding="utf-8") as f:
        for rec in records[:n]:
            f.write(json.dumps(to_row(rec)) + "\n")
            written += 1
        for rec in perturbed(records, seed=seed, copies=copies):
            if written >= n:
                break
            f.write(json.dumps(to_row(rec)) + "\n")
            written += 1
    return written


class TreeSampler:
    """The largest summed RSS of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int, every_s: float) -> None:
        self.proc = psutil.Process(pid)
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.every_s)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def snapshot(to: Path) -> Path:
    """The code the builds run, copied now (no caches)."""
    for name in SNAPSHOT:
        shutil.copytree(REPO / name, to / name, ignore=shutil.ignore_patterns("__pycache__"))
    return to


@dataclass(frozen=True)
class Builds:
    """What every build shares: the input, caches, config and the code snapshot it runs."""

    qa: Path
    cache: Path
    config: Path
    code: Path  # the snapshot: the working directory and PYTHONPATH of every build
    every_s: float  # RSS sampling period

    def run(self, n: int, out: Path, extra: list[str]) -> dict[str, Any]:
        """`kgsynth build` of the first n rows into `out`, timed and its memory sampled."""
        qa = prefix_file(self.qa, n)
        cmd = [
            sys.executable, "-m", "kgsynth.cli", "build", "--qa", str(qa),
            "--limit", str(n), "--out", str(out), "--cache-dir", str(self.cache),
            "--config", str(self.config), *extra,
        ]  # fmt: skip
        env = os.environ | {"PYTHONPATH": str(self.code)}
        return _measure(cmd, n, out, env, self.code, self.every_s)


def prefix_file(qa: Path, n: int) -> Path:
    """The first n rows of `qa` as a file of their own, `<n>/<qa's name>` beside it (one
    name for every size: a reject names its source file)."""
    out = qa.parent / str(n) / qa.name
    if not out.exists():
        out.parent.mkdir()
        with qa.open("rb") as src, out.open("wb") as dst:
            dst.writelines(line for _, line in zip(range(n), src, strict=False))
    return out


def _measure(
    cmd: list[str], n: int, out: Path, env: dict[str, str], cwd: Path, every_s: float
) -> dict[str, Any]:
    log = out.with_suffix(".log")
    t0 = time.perf_counter()
    with log.open("wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        sampler = TreeSampler(proc.pid, every_s)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    peak_tree = sampler.stop()
    if proc.returncode != 0:
        sys.exit(f"build of {n} rows failed ({proc.returncode}):\n{log.read_text()[-4000:]}")
    summary = json.loads((out / "build.json").read_text())
    return {
        "rows": n,
        "wall_s": round(wall, 2),
        "shards_s": summary["seconds"].get("shards"),
        "rows_per_s": round(n / wall, 1),
        "rows_per_s_shards": round(n / summary["seconds"]["shards"], 1),
        "peak_rss_tree_mb": round(peak_tree / 2**20, 1),
        "peak_rss_main_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "exported": summary["exported"],
        "rejected": summary["rejected"],
        "shards": summary["run"]["shards"],
    }


def digest(frame: pl.DataFrame) -> str:
    return hashlib.sha256(frame.write_ndjson().encode()).hexdigest()


def first_ids(qa: Path, n: int) -> list[str]:
    with qa.open(encoding="utf-8") as f:
        return [json.loads(line)["id"] for _, line in zip(range(n), f, strict=False)]


def _rows_of(folder: Path, ids: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A build's rows and rejects of these ids, in the order the build wrote them."""
    rows = pl.read_parquet(sorted((folder / "data").glob("*.parquet"))).drop("created_at")
    # the source file by name: each size reads a file of its own (prefix_file)
    name = pl.col("source_file").str.replace(r"^.*/", "")
    rejects = pl.read_parquet(folder / "rejects.parquet").with_columns(name)
    keep = pl.col("id").is_in(ids)
    return rows.filter(keep), rejects.filter(keep)


def slice_check(streamed: Path, one: Path, ids: list[str]) -> dict[str, Any]:
    """The rows and rejects of `ids` (an input prefix) in a streamed build and in the
    one-batch build: the same digests, or the streamed build changed the rows."""
    rows, rej = _rows_of(streamed, ids)
    rows1, rej1 = _rows_of(one, ids)
    out: dict[str, Any] = {
        "ids": len(ids),
        "rows": rows1.height,
        "rejects": rej1.height,
        "rows_digest_streamed": digest(rows),
        "rows_digest_one_batch": digest(rows1),
        "rejects_digest_streamed": digest(rej),
        "rejects_digest_one_batch": digest(rej1),
    }
    out["identical"] = (
        rows.height + rej.height == len(ids)
        and out["rows_digest_streamed"] == out["rows_digest_one_batch"]
        and out["rejects_digest_streamed"] == out["rejects_digest_one_batch"]
    )
    return out


def curve(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds per 1k rows and peak memory against the smallest and largest size."""
    if len(points) < 2:
        return {}
    a, b = points[0], points[-1]
    per_k = [round(1000 * p["wall_s"] / p["rows"], 2) for p in points]
    per_k_shards = [round(1000 * p["shards_s"] / p["rows"], 2) for p in points]
    # the cost of each further 1k rows between two sizes: flat when time grows linearly
    # (the average above also spreads the fixed start-up cost, so it falls with size)
    marginal = [
        round(1000 * (q["shards_s"] - p["shards_s"]) / (q["rows"] - p["rows"]), 2)
        for p, q in zip(points, points[1:], strict=False)
    ]
    return {
        "rows": [p["rows"] for p in points],
        "wall_s_per_1k_rows": per_k,
        "shards_s_per_1k_rows": per_k_shards,
        "marginal_shards_s_per_1k_rows": marginal,
        "peak_rss_mb_per_1k_rows_marginal": [
            round(
                1000 * (q["peak_rss_tree_mb"] - p["peak_rss_tree_mb"]) / (q["rows"] - p["rows"]), 2
            )
            for p, q in zip(points, points[1:], strict=False)
        ],
        "time_ratio_vs_rows_ratio": [round(b["wall_s"] / a["wall_s"], 2), b["rows"] / a["rows"]],
        "peak_rss_tree_mb": [p["peak_rss_tree_mb"] for p in points],
        "peak_rss_growth_largest_vs_smallest": round(
            b["peak_rss_tree_mb"] / a["peak_rss_tree_mb"], 2
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,50000,200000")
    ap.add_argument("--dask-sizes", default="1000,10000", help="sizes also built on 2 Dask workers")
    ap.add_argument("--slice", type=int, default=5000, help="rows compared with one batch")
    ap.add_argument("--shard-size", type=int, default=128)
    ap.add_argument("--sample-s", type=float, default=0.25)
    ap.add_argument("--rss-limit-mb", type=float, default=3072)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument(
        "--result",
        type=Path,
        help="where the summary goes (default: the committed result for the default run, "
        "else a file in the system's temporary folder)",
    )
    args = ap.parse_args()
    # only the default run (every size, the defaults' slice and shards) is the committed result
    default = all(getattr(args, k) == ap.get_default(k) for k in _RUN_ARGS)
    result_path = args.result or (
        RESULT if default else Path(tempfile.gettempdir()) / "kgsynth-scale_rows.json"
    )
    sizes = sorted(int(s) for s in args.sizes.split(","))
    dask_sizes = sorted(int(s) for s in args.dask_sizes.split(",") if s)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

    tmp = Path(tempfile.mkdtemp(prefix="kgsynth-scale-rows-"))
    cache, config, qa = tmp / "cache", tmp / "build.toml", tmp / "qa.jsonl"
    config.write_text(CONFIG)
    load0 = os.getloadavg()
    t_bench = time.perf_counter()
    try:
        n_input = make_input(qa, max(sizes + dask_sizes + [args.slice]))
        common = ["--shard-size", str(args.shard_size)]
        b = Builds(qa, cache, config, snapshot(tmp / "code"), args.sample_s)
        b.run(64, tmp / "warmup", common)  # fills the on-disk caches
        local = [b.run(n, tmp / f"local-{n}", common) for n in sizes]
        dask_extra = [*common, "--task-runner", "dask", "--workers", "2"]
        dask = [b.run(n, tmp / f"dask-{n}", dask_extra) for n in dask_sizes]
        # the slice in one batch: one shard of all its rows
        n_slice = min(args.slice, sizes[-1])
        one_extra = ["--shard-size", str(n_slice)]
        one = b.run(n_slice, tmp / "one-batch", one_extra)
        ids = first_ids(qa, n_slice)
        check = slice_check(tmp / f"local-{sizes[-1]}", tmp / "one-batch", ids)
        for d in dask:  # each Dask build's share of the slice too: the same rows on 2 workers
            part = ids[: d["rows"]]
            same = slice_check(tmp / f"dask-{d['rows']}", tmp / "one-batch", part)
            d["slice_identical"] = same["identical"]
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    largest = local[-1]
    result = {
        "bench": "scale_rows",
        "input": f"MedQA test ({MEDQA.name}) + perturbed copies (bench/perturb.py, seed 0)",
        "input_rows_written": n_input,
        "cpus": os.cpu_count(),
        "load_avg_1m_before_after": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
        "bench_wall_s": round(time.perf_counter() - t_bench, 1),
        "config": {
            "shard_size": args.shard_size,
            "dedup": False,
            "cache_results": False,
            "kg": "hpo",
            "generator": "offline",
        },  # fmt: skip
        "local": local,
        "dask_2_workers": dask,
        "curve_local": curve(local),
        "curve_dask_2_workers": curve(dask),
        "one_batch_slice_build": one,
        "slice_check": check,
        "largest": {
            "rows": largest["rows"],
            "wall_s": largest["wall_s"],
            "peak_rss_tree_mb": largest["peak_rss_tree_mb"],
            "peak_rss_ok": largest["peak_rss_tree_mb"] <= args.rss_limit_mb,
            "slice_identical": check["identical"],
        },
        "target": {"peak_rss_mb_at_200k": args.rss_limit_mb, "slice_rows": args.slice},
        "notes": (
            "wall_s includes Python and Prefect start-up and the export (Parquet, card, plots);"
            " shards_s is the streamed stages alone. peak_rss_tree_mb sums the build's process"
            " tree (CLI + Prefect server + Dask workers); peak_rss_main_mb is the CLI process's"
            " own rusage peak. Each size reads a file of its own N rows. A build reads its"
            " whole input first (kgsynth/qa/read.py: every row of the file as a dict, then a"
            " QARecord each, about 5 KB a row at the read's peak), then cuts it into shards"
            " that wait on disk until submitted (kgsynth/export/parts.py InputParts) and gives"
            " the freed heap back (kgsynth/runs.py release_freed_heap) before the linker"
            " loads; each shard's kept rows and rejects go to Parquet parts as it finishes and"
            " the report keeps reject counts only. The shards' phase is flat in the input"
            " (about 525 MB of the main process at 1k and at 200k rows, measured in-process);"
            " what still grows is the read, the peak at 200k rows."
            " The machine is shared with other jobs (load average above)."
        ),
    }
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"summary written to {result_path}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
