"""MedQA build, cold cache vs warm cache, as the CLI runs it.

Runs `kgsynth build` twice in fresh processes on the shared MedQA file against the HPO KG:
first with an empty cache dir (KG parsed, alias index built), then again with the cache
warm. Reports wall time, peak RSS and the stage yields of the second run.
Usage: python bench/build_medqa.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"
KGSYNTH = Path(sys.executable).parent / "kgsynth"


def run(out: Path, cache: Path, limit: int | None) -> dict:
    cmd = [
        str(KGSYNTH),
        "build",
        "--qa",
        str(MEDQA),
        "--kg",
        "hpo",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        # the warm run measures a build with the KG and alias index cached, not one served
        # whole from the shard result cache
        "--no-cache-results",
    ]
    if limit:
        cmd += ["--limit", str(limit)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"build failed:\n{proc.stdout}\n{proc.stderr}")
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    summary = json.loads((out / "build.json").read_text())
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak / 1024), "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kgsynth-bench-"))
    try:
        cold = run(tmp / "cold", tmp / "cache", args.limit)
        warm = run(tmp / "warm", tmp / "cache", args.limit)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    s = warm["summary"]
    counts = s["counts"]
    n = counts["input"]
    linker = s["stages"]["link"]
    result = {
        "bench": "build_medqa",
        "qa_rows": n,
        "cold_wall_s": cold["wall_s"],
        "warm_wall_s": warm["wall_s"],
        "cold_peak_rss_mb": cold["peak_rss_mb"],
        "warm_stage_seconds": s["seconds"],
        "counts": counts,
        "pct_question_linked": round(100 * int(linker["question_linked"]) / n, 1),
        "pct_answer_linked": round(100 * int(linker["answer_linked"]) / n, 1),
        "pct_linked_both": round(100 * counts["link"] / n, 1),
        "pct_with_path": round(100 * counts["paths"] / n, 1),
        "pct_verified": round(100 * counts["verify"] / n, 1),
        "rejected_by_reason": s["rejected_by_reason"],
        "targets": {"cold_wall_s": 180, "warm_wall_s": 60, "pct_verified": 20},
    }
    out = REPO / "bench" / "results" / "build_medqa.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
