"""Decontamination (issue 15): flag rates against MedQA, and the time to check 200k rows
against 10k benchmark items.

Rates, with every method on and the default settings, against the shared MedQA test file
(indexed through the cache like a build does, its items linked on the hpo KG):
  - self: the MedQA test items themselves, every one (target 100 %);
  - perturbed: one perturbed copy of each item (bench/perturb.py: a sentence dropped, 10 %
    of the words replaced, the options shuffled; written to a file, read back and linked)
    (target >= 95 %), and whether each flag names the item it was made from;
  - disjoint: KG-first questions (offline synth-kg on hpo, through the decontam stage) whose
    (start finding, answer) is no MedQA item's (target <= 1 %); all of them reported too;
  - medqa_split, for information: one half of MedQA against the other (MedQA's test set holds
    a few real near copies: one vignette, two questions).
Scale: 200k candidate rows against 10k benchmark items, both perturbed copies of MedQA
(marked synthetic, other seeds; each copy keeps its source item's linked entities, so the KG
method runs too). This is the worst case for the joins: every candidate has ~8 near copies
among the items. Timed: normalising and checking the candidates (match.check, every method),
wall and CPU seconds; the index build (10k items, once per benchmark, then cached) apart.
Target <= 60 s on 2 cores. The machine may be shared: the 1-minute load average is recorded.

Writes bench/results/decontam.json; the last line printed is that JSON.

Usage: python bench/decontam.py [--quick] [--rows 200000] [--items 10000] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from perturb import perturbed, to_row  # noqa: E402

from kgsynth import resources  # noqa: E402
from kgsynth.config import BuildConfig, DecontamConfig  # noqa: E402
from kgsynth.decontam.index import (  # noqa: E402
    BenchmarkIndex,
    answer_ids,
    build_index,
    load_index,
    present_ids,
)
from kgsynth.decontam.match import METHODS, Candidates, check, rates  # noqa: E402
from kgsynth.defaults import DEFAULT_CACHE_DIR  # noqa: E402
from kgsynth.kg import load_kg  # noqa: E402
from kgsynth.qa import read_qa  # noqa: E402
from kgsynth.records import LinkedQA, QARecord  # noqa: E402

MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"
RESULT = REPO / "bench" / "results" / "decontam.json"
TARGETS = {"self": 1.0, "perturbed": 0.95, "disjoint": 0.01, "scale_wall_s": 60.0}


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return ru.ru_utime + ru.ru_stime


def rate_of(flags: Any, n: int, file: str) -> dict[str, Any]:
    counts = rates(flags, [file])[file]
    return {"rows": n, **{m: round(k / (n or 1), 4) for m, k in counts.items()}}


def medqa_rates(
    records: list[QARecord], linker: Any, index: BenchmarkIndex, s: DecontamConfig, work: Path
) -> tuple[dict[str, Any], list[LinkedQA]]:
    file = index.file
    out: dict[str, Any] = {}
    t = time.perf_counter()
    linked = [linker(r) for r in records]
    link_s = time.perf_counter() - t
    out["self"] = rate_of(check(Candidates.from_linked(linked), [index], s), len(records), file)

    copy_file = work / "medqa_perturbed.jsonl"
    copy_file.write_text("".join(json.dumps(to_row(r)) + "\n" for r in perturbed(records, seed=0)))
    copies = read_qa([copy_file]).records  # read back as a user's file would be
    flags = check(Candidates.from_linked([linker(r) for r in copies]), [index], s)
    out["perturbed"] = rate_of(flags, len(copies), file)
    source = [c.id.rsplit("~", 1)[0] for c in copies]
    wrong = sum(flags["item_id"][i] != source[r] for i, r in enumerate(flags["row"]))
    out["perturbed"]["flags_naming_another_item"] = wrong

    # one half against the other (with the KG method: the halves linked as above)
    half = len(records) // 2
    split = build_index("medqa-half", "-", records[:half], linked[:half], s)
    flags = check(Candidates.from_linked(linked[half:]), [split], s)
    out["medqa_split"] = rate_of(flags, len(records) - half, "medqa-half")
    out["medqa_link_s"] = round(link_s, 1)
    return out, linked


def kg_first_rates(
    kg: Any, cache: Path, s: DecontamConfig, index: BenchmarkIndex, attempts: int
) -> dict[str, Any]:
    """Offline KG-first questions through the decontam stage, as synth-kg would run it."""
    from kgsynth.stages import StageContext
    from kgsynth.stages.decontam import DecontamInfo, DecontamStage
    from kgsynth.stages.synth import PoseStage, SampleStage, WriteStage
    from kgsynth.synth.config import SynthConfig

    cfg = SynthConfig(kg="hpo", cache_dir=cache, decontam=s)
    ctx = StageContext(cfg=cfg, kg=kg)
    t = time.perf_counter()
    posed = PoseStage().run(SampleStage().run(list(range(attempts)), ctx).kept, ctx).kept
    rows = WriteStage().run(posed, ctx).kept
    made_s = time.perf_counter() - t
    # a row overlaps MedQA in the KG when an item has its answer and states its start
    assert index.kg_answers is not None and index.kg_present is not None
    pairs = index.kg_answers.join(index.kg_present, on="item", suffix="_finding")
    known = set(pairs.select("kg_id", "kg_id_finding").iter_rows())
    disjoint = [r for r in rows if (r.posed.chain.answer.id, r.posed.chain.start.id) not in known]
    stage = DecontamStage(cfg)
    out: dict[str, Any] = {"attempts": attempts, "made_s": round(made_s, 1)}
    for name, batch in (("kg_first_all", rows), ("disjoint", disjoint)):
        res = stage.run(batch, ctx)
        assert isinstance(res.info, DecontamInfo)
        by, n = res.info.benchmarks[0].flagged, len(batch)
        out[name] = {"rows": n, **{m: round(by.get(m, 0) / (n or 1), 4) for m in (*METHODS, "any")}}
        out[name]["rejected"] = len(res.rejects)
    return out


def scale(
    records: list[QARecord], linked: list[LinkedQA], s: DecontamConfig, n_rows: int, n_items: int
) -> dict[str, Any]:
    by_id = {lk.qa.id: lk for lk in linked}
    t = time.perf_counter()
    items = list(perturbed(records, seed=1, copies=math.ceil(n_items / len(records))))[:n_items]
    rows = list(perturbed(records, seed=2, copies=math.ceil(n_rows / len(records))))[:n_rows]
    made_s = time.perf_counter() - t
    # each copy keeps its source's entities (what linking it would give, near enough)
    item_links = [by_id[r.meta["of"]].model_copy(update={"qa": r}) for r in items]
    t = time.perf_counter()
    index = build_index("synthetic-items", "-", items, item_links, s)
    index_s = time.perf_counter() - t
    present = [by_id[r.meta["of"]] for r in rows]
    p_ids, a_ids = [present_ids(x) for x in present], [answer_ids(x) for x in present]
    t, c = time.perf_counter(), cpu_s()
    cands = Candidates.from_records(rows, p_ids, a_ids)
    flags = check(cands, [index], s)
    wall, cpu = time.perf_counter() - t, cpu_s() - c
    return {
        "candidates": len(rows),
        "items": len(items),
        "made_s": round(made_s, 1),
        "index_build_s": round(index_s, 1),
        "check_wall_s": round(wall, 1),
        "check_cpu_s": round(cpu, 1),
        "rows_per_s": round(len(rows) / wall),
        "flagged": rate_of(flags, len(rows), "synthetic-items"),
        "flags": flags.height,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20k rows x 2k items, fewer KG-first")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--kg-first-attempts", type=int, default=3000)
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = ap.parse_args()
    if args.quick:
        args.rows, args.items, args.kg_first_attempts = 20_000, 2_000, 600
    if not MEDQA.is_file():
        sys.exit(f"shared MedQA file missing: {MEDQA}")
    cache = args.cache_dir.expanduser()
    cfg = BuildConfig(cache_dir=cache, decontam={"against": [MEDQA]})
    s = cfg.decontam
    records = read_qa([MEDQA]).records
    kg = load_kg("hpo", cache_dir=cache)
    linker = resources.worker_linker(kg, cfg.linking, cache)

    t = time.perf_counter()
    index = load_index(MEDQA, s, cache, kg, cfg.linking)
    index_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="kgsynth-decontam-") as tmp:
        medqa, linked = medqa_rates(records, linker, index, s, Path(tmp))
    kg_first = kg_first_rates(kg, cache, s, index, args.kg_first_attempts)
    big = scale(records, linked, s, args.rows, args.items)

    result = {
        "bench": "decontam",
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "settings": s.model_dump(mode="json", exclude={"against", "enabled"}),
        "benchmark": {
            "file": MEDQA.name,
            "items": index.n_items,
            "kg_items": index.facts.get("kg_items"),
            "index": index.source,  # "cached": made by an earlier run (its times below)
            "index_load_s": round(index_s, 1),
            "index_link_s": index.facts.get("link_s"),
            "index_build_s": index.facts.get("build_s"),
        },
        "rates": {
            "self": medqa["self"],
            "perturbed": medqa["perturbed"],
            "disjoint_kg_first": kg_first["disjoint"],
            "kg_first_all": kg_first["kg_first_all"],
            "medqa_split": medqa["medqa_split"],
        },
        "kg_first": {k: kg_first[k] for k in ("attempts", "made_s")},
        "scale": big,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "targets": TARGETS,
        "met": {
            "self": medqa["self"]["any"] >= TARGETS["self"],
            "perturbed": medqa["perturbed"]["any"] >= TARGETS["perturbed"],
            "disjoint": kg_first["disjoint"]["any"] <= TARGETS["disjoint"],
            "scale_wall_s": big["check_wall_s"] <= TARGETS["scale_wall_s"],
        },
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
