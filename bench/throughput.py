"""Offline build throughput: MedQA rows per second, per stage and per CPU core.

Builds the shared MedQA test file offline on the built-in KG (no shard result cache), each
build in a fresh process with the KG, alias frame and alias index already on disk ("warm"),
`--repeats` times. A first build that finds the cache cold fills it and is reported apart.
For each build: the stages' wall seconds (the build report), the process CPU seconds spent
while each per-row stage ran, the process's CPU time (resource.getrusage) and wall time, rows/s
overall and for linking, and whether the dataset equals the committed MedQA digest
(tests/data/medqa_build_digest.json: same rows, rejects and counts).

Floors, measured in the same run: `python -c "import kgsynth.cli"` (imports), and spaCy's
`nlp.pipe` (blank English + scispaCy's abbreviation detector, what the linker parses with)
over the same questions. `--cold-index` adds a Linker made with a fresh cache whose kg folder
links to the warm one, so only the linker's own files (alias frame, TF-IDF vectors) are
made. Writes bench/results/throughput.json; the last line printed is that JSON.

Usage: python bench/throughput.py [--repeats 3] [--cold-index] [--limit N] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"
DIGEST = REPO / "tests" / "data" / "medqa_build_digest.json"
RESULT = REPO / "bench" / "results" / "throughput.json"
TARGET_ROWS_PER_CORE_S = 300  # issue 14: warm offline build, linking included
TARGET_COLD_INDEX_S = 20


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


# -- children: each measurement in a fresh process --------------------------------------------


def child_build(out: Path, cache: Path, limit: int | None) -> dict[str, Any]:
    """One offline build in this process, with the process CPU time of each per-row stage."""
    t0, c0 = time.perf_counter(), cpu_s()
    from flows.build import build_dataset
    from kgsynth.config import load_config
    from kgsynth.stages.evidence import EvidenceStage
    from kgsynth.stages.generate import GenerateStage
    from kgsynth.stages.link import LinkStage
    from kgsynth.stages.paths import PathsStage
    from kgsynth.stages.quality import QualityStage
    from kgsynth.stages.verify import VerifyStage

    import_s, import_cpu = time.perf_counter() - t0, cpu_s() - c0
    stage_cpu: dict[str, float] = {}
    for cls in (LinkStage, EvidenceStage, PathsStage, GenerateStage, VerifyStage, QualityStage):
        _time_cpu(cls, stage_cpu)
    overrides: dict[str, Any] = {
        "qa": [MEDQA],
        "kg": "hpo",
        "out": out,
        "cache_dir": cache,
        "run": {"cache_results": False},  # a build, not one served from the shard cache
    }
    if limit:
        overrides["limit"] = limit
    cfg = load_config(None, overrides)
    t1, c1 = time.perf_counter(), cpu_s()
    report = build_dataset(cfg).report
    wall, cpu = time.perf_counter() - t1, cpu_s() - c1
    summary = json.loads((out / "build.json").read_text())  # written before export ended
    return {
        "import_s": round(import_s, 2),
        "import_cpu_s": round(import_cpu, 2),
        "build_wall_s": round(wall, 2),
        "build_cpu_s": round(cpu, 2),
        "stage_seconds": {k: round(v, 3) for k, v in report.seconds.items()},
        "stage_cpu_s": {k: round(v, 3) for k, v in stage_cpu.items()},
        "index": summary["stages"]["link"]["index"],
        "rows": summary["counts"]["input"],
        "exported": summary["exported"],
        "digest_matches": _digest_matches(out) if not limit else None,
    }


def _time_cpu(cls: Any, acc: dict[str, float]) -> None:
    run = cls.run

    def timed(self: Any, batch: Any, ctx: Any) -> Any:
        # the process's CPU, not the stage thread's: a library may run work on threads of its own
        t = cpu_s()
        try:
            return run(self, batch, ctx)
        finally:
            key = cls.stage.value
            acc[key] = acc.get(key, 0.0) + cpu_s() - t

    cls.run = timed


def _digest_matches(out: Path) -> bool | None:
    if not DIGEST.exists():
        return None
    sys.path.insert(0, str(REPO / "tests"))
    from build_digest import dataset_digest

    want = json.loads(DIGEST.read_text())
    got = dataset_digest(out)
    return all(got[k] == want[k] for k in ("rows", "row_columns", "rejects", "counts")) and (
        got["rejects_sha256"] == want["rejects_sha256"]
    )


def child_spacy_floor() -> dict[str, Any]:
    """spaCy's parse of every question, as the linker's pipeline makes it."""
    import spacy
    from scispacy.abbreviation import AbbreviationDetector  # noqa: F401  (the factory)

    nlp = spacy.blank("en")
    nlp.add_pipe("abbreviation_detector")
    questions = [json.loads(line)["question"] for line in MEDQA.open(encoding="utf-8")]
    t, c = time.perf_counter(), time.thread_time()
    n = sum(len(doc) for doc in nlp.pipe(questions, batch_size=256))
    wall, cpu = time.perf_counter() - t, time.thread_time() - c
    with_paren = [q for q in questions if "(" in q]
    t2 = time.thread_time()
    for _ in nlp.pipe(with_paren, batch_size=256):
        pass
    return {
        "questions": len(questions),
        "tokens": n,
        "pipe_wall_s": round(wall, 2),
        "pipe_cpu_s": round(cpu, 2),
        "questions_with_paren": len(with_paren),
        "pipe_with_paren_cpu_s": round(time.thread_time() - t2, 2),
    }


def child_cold_linker(cache: Path) -> dict[str, Any]:
    """The Linker made with `cache` (its kg folder warm, its linker folder empty)."""
    from kgsynth.config import load_config
    from kgsynth.kg import load_kg
    from kgsynth.linking.linker import Linker

    cfg = load_config(None, {"kg": "hpo", "cache_dir": cache})
    kg = load_kg("hpo", cache_dir=cache)
    t, c = time.perf_counter(), cpu_s()
    linker = Linker(kg, cfg.linking, cache)
    wall, cpu = time.perf_counter() - t, cpu_s() - c
    t2, c2 = time.perf_counter(), cpu_s()
    Linker(kg, cfg.linking, cache)  # the same files, now cached
    return {
        "aliases": linker.aliases.height,
        "index": "cached" if linker.index_cached else "built",
        "cold_linker_wall_s": round(wall, 2),
        "cold_linker_cpu_s": round(cpu, 2),
        "warm_linker_wall_s": round(time.perf_counter() - t2, 2),
        "warm_linker_cpu_s": round(cpu_s() - c2, 2),
    }


def spawn(*args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, cwd=REPO
    )
    if proc.returncode != 0:
        sys.exit(f"{args[:2]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def import_floor() -> dict[str, float]:
    c0, t0 = cpu_s(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, "-c", "import kgsynth.cli"], check=True, cwd=REPO)
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu_s(resource.RUSAGE_CHILDREN) - c0, 2)}


# -- the parent ------------------------------------------------------------------------------


def per_s(rows: int, seconds: float) -> float | None:
    return round(rows / seconds, 1) if seconds > 0 else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the warm builds (the machine may be shared: several runs, one figure)."""
    n = runs[0]["rows"]

    def med(get: Any) -> float:
        return round(statistics.median(get(r) for r in runs), 3)

    link_wall = med(lambda r: r["stage_seconds"].get("link", 0.0))
    link_cpu = med(lambda r: r["stage_cpu_s"].get("link", 0.0))
    build_wall = med(lambda r: r["build_wall_s"])
    build_cpu = med(lambda r: r["build_cpu_s"])
    stage_cpu_total = med(lambda r: sum(r["stage_cpu_s"].values()))
    stages = sorted({k for r in runs for k in r["stage_seconds"]})
    return {
        "rows": n,
        "build_wall_s": build_wall,
        "build_cpu_s": build_cpu,
        "stage_seconds": {k: med(lambda r, k=k: r["stage_seconds"].get(k, 0.0)) for k in stages},
        "stage_cpu_s": {
            k: med(lambda r, k=k: r["stage_cpu_s"].get(k, 0.0)) for k in runs[0]["stage_cpu_s"]
        },
        "rows_per_s": per_s(n, build_wall),
        # rows/s per core: the build's process CPU time (Prefect's threads included), and
        # the CPU of the per-row stages alone
        "rows_per_cpu_s": per_s(n, build_cpu),
        "stages_rows_per_cpu_s": per_s(n, stage_cpu_total),
        "link_rows_per_s": per_s(n, link_wall),
        "link_rows_per_cpu_s": per_s(n, link_cpu),
        "import_s": med(lambda r: r["import_s"]),
        "digest_matches": all(r["digest_matches"] is not False for r in runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cold-index", action="store_true")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--cache-dir", type=Path, default=Path("~/.cache/kgsynth"))
    ap.add_argument("--child", choices=["build", "spacy", "cold-linker"], help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    cache = args.cache_dir.expanduser()
    if args.child == "build":
        print(json.dumps(child_build(args.out, cache, args.limit)))
        return
    if args.child == "spacy":
        print(json.dumps(child_spacy_floor()))
        return
    if args.child == "cold-linker":
        print(json.dumps(child_cold_linker(cache)))
        return

    tmp = Path(tempfile.mkdtemp(prefix="kgsynth-throughput-"))
    limit = ["--limit", str(args.limit)] if args.limit else []
    try:
        builds, filling = [], None
        build = ["--child", "build", "--cache-dir", str(cache), *limit]
        for i in range(args.repeats):
            r = spawn(*build, "--out", str(tmp / f"b{i}"))
            if r["index"] == "built" and filling is None:
                filling = r  # the first build filled the cache: not a warm one
                r = spawn(*build, "--out", str(tmp / f"w{i}"))
            builds.append(r)
        floors = {"import_kgsynth_cli": import_floor(), "spacy_pipe": spawn("--child", "spacy")}
        cold = None
        if args.cold_index:
            fresh = tmp / "cold-cache"
            fresh.mkdir()
            (fresh / "kg").symlink_to((cache / "kg").resolve(), target_is_directory=True)
            cold = spawn("--child", "cold-linker", "--cache-dir", str(fresh))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    warm = summarise(builds)
    result = {
        "bench": "throughput",
        "qa_rows": warm["rows"],
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),  # a shared machine: timings are noisy
        "warm": warm,
        "warm_runs": builds,
        "cache_fill_run": filling,
        "floors": floors,
        "cold_linker": cold,
        "targets": {
            "rows_per_cpu_s": TARGET_ROWS_PER_CORE_S,
            "cold_index_s": TARGET_COLD_INDEX_S,
        },
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
