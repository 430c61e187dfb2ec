"""Start-up: how long an ad-hoc `kgsynth` takes before (and besides) doing any work.

Measured in one run, each command in a fresh process, `--repeats` times, medians reported
(the machine may be shared):
  - the import floor: `python -c "import kgsynth.cli"`;
  - `kgsynth --help`;
  - a warm sample build: `kgsynth build --out TMP --overwrite` on the built-in defaults (the
    sample QA, the HPO KG, offline, the default cache folder), after one untimed build that
    warms the caches (KG, alias index, shard results). No PREFECT_API_URL: the ad-hoc case.
    A build that did not take all its shards from the cache (kgsynth's source changed since
    the last one: the shard key holds its hash) is run again, and counted apart.
Then one more warm build under `python -X importtime` says where a build's time goes: the
imports, by top-level package, and the stages (the summary's `time:` line); the rest is
Prefect's task engine, the interpreter's start and exit, and what the stages do not time.

Writes bench/results/startup.json; the last line printed is that JSON.

Usage: python bench/startup.py [--repeats 5] [--quick] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "bench" / "results" / "startup.json"
KGSYNTH = Path(sys.executable).parent / "kgsynth"  # the console script of this environment
TARGET_BUILD_S = 3.0  # issue 14: warm sample build, wall
TARGET_HELP_S = 0.5  # issue 14: `kgsynth --help`, wall
TOP_PACKAGES = 12  # packages listed in the import breakdown
MAX_TRIES = 3  # builds tried per warm build counted (see all_shards_cached)
FLOW_STEPS = {"input", "dedup", "load_kg", "shards", "export"}  # timed by the build flow


def child_env() -> dict[str, str]:
    # no Prefect API configured (the ad-hoc case); a wide console, so that the summary's
    # `time:` line is not wrapped
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return env | {"COLUMNS": "200"}


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall and CPU seconds of `cmd` (its processes that ended, children included)."""
    c0, t0 = children_cpu_s(), time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=child_env(), capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu_s() - c0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, cpu, done


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def all_shards_cached(out: Path) -> bool:
    """Whether the build that wrote `out` took every shard from the shard cache (warm)."""
    run = json.loads((out / "build.json").read_text())["run"]
    return bool(run["shards"]) and run["cached_shards"] == run["shards"]


def stage_seconds(stdout: str) -> dict[str, float]:
    """The summary's `time: input 0.0s, dedup 0.1s, ...` line (stages as the build timed them)."""
    m = re.search(r"^time: (.*)$", stdout, re.MULTILINE)
    if not m:
        return {}
    return {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)s", m.group(1))}


def import_breakdown(stderr: str) -> dict[str, Any]:
    """`-X importtime` lines: total import seconds, and self seconds by top-level package."""
    by_package: Counter[str] = Counter()
    total_us = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        if not self_us.strip().isdigit():
            continue  # the header line
        by_package[name.strip().split(".")[0]] += int(self_us)
        if not name.startswith("  "):  # a top-level import: its cumulative time counts once
            total_us += int(cumulative_us)
    return {
        "imports_s": round(total_us / 1e6, 2),
        "imports_by_package_s": {
            k: round(v / 1e6, 2) for k, v in by_package.most_common(TOP_PACKAGES)
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2 repeats, no import breakdown")
    ap.add_argument("--cache-dir", type=Path, help="build cache folder (default: kgsynth's)")
    args = ap.parse_args()
    repeats = 2 if args.quick else args.repeats

    tmp = Path(tempfile.mkdtemp(prefix="kgsynth-startup-"))
    out = tmp / "out"
    build = [str(KGSYNTH), "build", "--out", str(out), "--overwrite"]
    if args.cache_dir:
        build += ["--cache-dir", str(args.cache_dir.expanduser())]
    try:
        warmup_s, _, _ = timed(build)  # fills whatever cache is cold; not counted
        imports = [timed([sys.executable, "-c", "import kgsynth.cli"])[0] for _ in range(repeats)]
        helps = [timed([str(KGSYNTH), "--help"])[0] for _ in range(repeats)]
        builds, cpus, stages, rerun = [], [], [], 0
        for _ in range(MAX_TRIES * repeats):
            wall, cpu, done = timed(build)
            if not all_shards_cached(out):
                # the shard key holds a hash of kgsynth's source: an edit since the last
                # build (on a shared checkout) makes a cold build, which does not count
                rerun += 1
                continue
            builds.append(wall)
            cpus.append(cpu)
            stages.append(stage_seconds(done.stdout))
            if len(builds) == repeats:
                break
        if not builds:
            raise SystemExit("no warm build: kgsynth's source kept changing under the bench")
        breakdown: dict[str, Any] = {}
        if not args.quick:
            cmd = [sys.executable, "-X", "importtime", "-m", "kgsynth.cli", *build[1:]]
            wall, _, done = timed(cmd)
            parts = import_breakdown(done.stderr)
            steps = stage_seconds(done.stdout)
            # the flow's own steps (`shards` holds the per-row stages, listed beside it)
            flow = sum(v for k, v in steps.items() if k in FLOW_STEPS)
            breakdown = {
                "warm": all_shards_cached(out),
                "wall_s": round(wall, 2),  # -X importtime makes imports somewhat slower
                **parts,
                "stages_s": steps,
                "other_s": round(wall - parts["imports_s"] - flow, 2),
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "bench": "startup",
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        # PYTHONDONTWRITEBYTECODE set: kgsynth's own modules (an editable install) are
        # compiled from source in every process, ~0.25 s of a warm build on a 2-core machine
        "dont_write_bytecode": bool(sys.flags.dont_write_bytecode),
        "repeats": repeats,
        "warm_builds": len(builds),
        "build_wall_s": median(builds),
        # CPU seconds of the build's processes: less at the mercy of a shared machine
        "build_cpu_s": median(cpus),
        "import_floor_s": median(imports),
        "help_wall_s": median(helps),
        "targets": {"build_wall_s": TARGET_BUILD_S, "help_wall_s": TARGET_HELP_S},
        "met": {
            "build_wall_s": median(builds) <= TARGET_BUILD_S,
            "help_wall_s": median(helps) <= TARGET_HELP_S,
        },
        "runs": {
            "warmup_build_s": round(warmup_s, 2),
            "cold_builds_skipped": rerun,
            "build_wall_s": [round(x, 2) for x in builds],
            "build_cpu_s": [round(x, 2) for x in cpus],
            "import_floor_s": [round(x, 2) for x in imports],
            "help_wall_s": [round(x, 2) for x in helps],
            "build_stage_s": stages,
        },
        "build_breakdown": breakdown,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
