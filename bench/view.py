"""`kgsynth view` on a 200k-row dataset: how fast the first page and a filtered page answer.

Makes the dataset reproducibly: the sample build (offline, the built-in HPO KG) into a temp
folder, its rows replicated to `--rows` rows with new ids (`<id>~synth<k>`) and their
question and reasoning marked `[synthetic copy k]` (which also keeps each text distinct,
as real rows are, instead of one Parquet dictionary entry per sample row), written the way
kgsynth writes a dataset (one `data/train-*.parquet`, polars' defaults) beside the sample's
rejects, card, plots and build.json. Marked synthetic in its build.json too.

Then serves it in-process with uvicorn on 127.0.0.1 (the app `kgsynth view` serves) and
times real HTTP requests with httpx: the very first rows page (while the row index is still
being built in the background), then, once the index is there, the first page, filtered
pages, a search, a row page and the summary, each the median of `--repeats` requests.
Writes bench/results/view.json; the last line printed is that JSON.

Usage: python bench/view.py [--rows 200000] [--repeats 7] [--cache-dir DIR] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import polars as pl

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "bench" / "results" / "view.json"
TARGET_MS = 300  # issue 16: first page and a filtered page on 200k rows
# filtered pages: one check, a margin range with a relation, a path length with a source
FILTERS = {
    "check": {"check": "kg_faithful:pass"},
    "margin_relation": {"mmin": "1.0", "rel": "associated_with"},
    "hops_source_check": {"hops": "2", "source": "medqa", "check": "claims:pass"},
}


def sample(out: Path, cache: Path | None) -> None:
    cmd = [sys.executable, "-m", "kgsynth.cli", "build", "--out", str(out), "--overwrite"]
    if cache:
        cmd += ["--cache-dir", str(cache)]
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)


def make_dataset(src: Path, out: Path, n_rows: int) -> dict[str, Any]:
    """`src`'s rows replicated to `n_rows` (see the module's note) into the dataset `out`."""
    shutil.copytree(src, out)
    data = sorted((out / "data").glob("train-*.parquet"))
    rows = pl.concat([pl.read_parquet(f) for f in data])
    for f in data:
        f.unlink()
    copies = -(-n_rows // rows.height)
    big = (
        pl.concat([rows.with_columns(pl.lit(k, pl.Int64).alias("_k")) for k in range(copies)])
        .head(n_rows)
        .with_columns(
            (pl.col("id") + "~synth" + pl.col("_k").cast(pl.String).str.zfill(6)).alias("id"),
            (pl.format("[synthetic copy {}] ", pl.col("_k")) + pl.col("question")).alias(
                "question"
            ),
            (pl.format("[synthetic copy {}] ", pl.col("_k")) + pl.col("reasoning")).alias(
                "reasoning"
            ),
        )
        .drop("_k")
    )
    big.write_parquet(data[0])  # as kgsynth.export.write does: polars' defaults
    summary = json.loads((out / "build.json").read_text())
    summary["exported"] = big.height
    summary["counts"]["export"] = big.height
    summary["counts"]["input"] = big.height + summary.get("rejected", 0)
    summary["bench"] = {"synthetic": True, "replicated_from": rows.height, "copies": copies}
    (out / "build.json").write_text(json.dumps(summary, indent=2))
    return {
        "rows": big.height,
        "sample_rows": rows.height,
        "parquet_mb": round(data[0].stat().st_size / 2**20, 1),
    }


def timed(client: httpx.Client, url: str, params: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    got = client.get(url, params=params)
    ms = (time.perf_counter() - t) * 1000
    got.raise_for_status()
    return ms


def median_ms(client: httpx.Client, repeats: int, url: str, params: dict | None = None) -> dict:
    runs = [timed(client, url, params) for _ in range(repeats)]
    return {"median_ms": round(statistics.median(runs), 1), "runs_ms": [round(r, 1) for r in runs]}


def measure(folder: Path, repeats: int) -> dict[str, Any]:
    from kgsynth.view.app import bind, make_server
    from kgsynth.view.dataset import ViewDataset

    t0 = time.perf_counter()
    data = ViewDataset(folder)
    open_s = time.perf_counter() - t0
    sock = bind(0)
    srv = make_server(data)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.01)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    out: dict[str, Any] = {"open_s": round(open_s, 3)}
    with httpx.Client(base_url=base, timeout=120) as client:
        t1 = time.perf_counter()
        data.start_index()  # as `kgsynth view` does, just before it serves
        out["first_page_cold_ms"] = round(timed(client, "/rows"), 1)
        out["index_cold"] = not data.index_ready()
        data.index()
        out["index_s"] = round(time.perf_counter() - t1, 2)
        out["first_page"] = median_ms(client, repeats, "/rows")
        out["filtered"] = {k: median_ms(client, repeats, "/rows", p) for k, p in FILTERS.items()}
        out["search"] = median_ms(client, repeats, "/rows", {"q": "ARACHNODACTYLY"})
        out["page_1000"] = median_ms(client, repeats, "/rows", {"page": "1000"})
        mid = data.index()["id"][data.n_rows // 2]
        out["row_page"] = median_ms(client, repeats, "/row", {"id": mid})
        out["summary"] = median_ms(client, repeats, "/")
        out["rejects"] = median_ms(client, repeats, "/rejects")
    srv.should_exit = True
    thread.join(timeout=30)
    sock.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cache-dir", type=Path, help="kgsynth cache (default: kgsynth's)")
    ap.add_argument("--keep", type=Path, help="also copy the made dataset here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="kgsynth-bench-view-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        sample(work / "sample", args.cache_dir)
        made = make_dataset(work / "sample", work / "ds", args.rows)
        made["make_s"] = round(time.perf_counter() - t, 1)
        if args.keep:
            shutil.copytree(work / "ds", args.keep, dirs_exist_ok=True)
        timings = measure(work / "ds", args.repeats)

    first = timings["first_page"]["median_ms"]
    filtered = max(v["median_ms"] for v in timings["filtered"].values())
    result = {
        "bench": "view",
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "polars": pl.__version__,
        "dataset": made,
        "repeats": args.repeats,
        "first_page_ms": first,
        "filtered_page_ms": filtered,
        "targets": {"first_page_ms": TARGET_MS, "filtered_page_ms": TARGET_MS},
        "met": {
            "first_page_ms": first <= TARGET_MS and timings["first_page_cold_ms"] <= TARGET_MS,
            "filtered_page_ms": filtered <= TARGET_MS,
        },
        "filters": FILTERS,
        **timings,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
