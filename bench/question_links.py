"""Question links on MedQA vs HPO: assertions, options linked, and a sample to judge by eye.

Links every MedQA test question and its options with the default linker, then
- counts question mentions by assertion (present/absent/family/historical/hypothetical),
  rows left with no present finding, the share of options linked, rows the link stage
  would reject as options_unlinked;
- samples 50 question links (in the order of a hash of seed, row id and offset) and
  writes them, each with its row id, the mention's character offsets, the linked node and
  the assertion, to
  bench/results/question_links_sample.json for a person to judge; the mention and the
  sentence around it are printed (stderr), never stored: MedQA text stays in ../shared;
- when bench/question_links_verdicts.json exists ({"row_id->kg_id:assertion": bool}, a
  person's judgements of the sample), reports the share judged correct.
Usage: python bench/question_links.py [--sample 50] [--seed 11] [--verdicts FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kgsynth.config import LinkingConfig  # noqa: E402
from kgsynth.defaults import DEFAULT_CACHE_DIR  # noqa: E402
from kgsynth.kg import load_kg  # noqa: E402
from kgsynth.linking.linker import Linker  # noqa: E402
from kgsynth.qa import read_qa  # noqa: E402

MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"
OUT = REPO / "bench" / "results" / "question_links_sample.json"
VERDICTS = REPO / "bench" / "question_links_verdicts.json"
_SENTENCE_END = re.compile(r"(?<=[.?!;])\s+|\n")


def sentence_around(text: str, start: int, end: int) -> str:
    """The sentence (or clause after a ;) holding text[start:end]."""
    bounds = [0] + [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]
    lo = max(b for b in bounds if b <= start)
    hi = min((b for b in bounds if b >= end and b > lo), default=len(text))
    return text[lo:hi].strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--verdicts", type=Path, default=VERDICTS)
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR.expanduser())
    args = ap.parse_args()

    cfg = LinkingConfig()
    batch = read_qa([MEDQA])
    kg = load_kg("hpo", cache_dir=args.cache_dir)
    linker = Linker(kg, cfg, args.cache_dir)
    t0 = time.perf_counter()
    items = [linker(qa) for qa in batch.records]
    secs = time.perf_counter() - t0

    by_assertion: Counter[str] = Counter()
    rows_no_present = rows_lost_present = options = options_linked = options_unlinked = 0
    for item in items:
        kinds = [e.assertion for e in item.question_entities]
        by_assertion.update(kinds)
        if "present" not in kinds:
            rows_no_present += 1
            rows_lost_present += bool(kinds)  # linked something, none of it present
        opts = item.option_entities
        n_linked = sum(bool(v) for v in opts.values())
        options += len(opts)
        options_linked += n_linked
        if opts and len(opts) - n_linked > cfg.max_unlinked_options * len(opts):
            options_unlinked += 1

    links = [(item.qa, lk) for item in items for lk in item.question_entities]
    rng = random.Random(args.seed)

    def draw(p: tuple) -> str:
        # a mention's place in the draw hangs on its row and offset alone, so a linker
        # change that adds or drops other links leaves the rest of the sample as it was
        return hashlib.sha256(f"{args.seed}:{p[0].id}:{p[1].start}".encode()).hexdigest()

    sample = sorted(links, key=draw)[: args.sample]
    sample.sort(key=lambda p: (p[0].id, p[1].start))
    rows = [
        {
            # the verdict is on the link and its assertion: a change of either is judged anew
            "key": f"{qa.id}->{lk.kg_id}:{lk.assertion}",
            "id": qa.id,
            "start": lk.start,
            "end": lk.end,
            "kg_id": lk.kg_id,
            "name": lk.name,
            "type": lk.type,
            "method": lk.method,
            "assertion": lk.assertion,
        }
        for qa, lk in sample
    ]
    negated = [(qa.id, lk.name) for qa, lk in links if lk.assertion == "absent"]
    for qa, lk in sample:  # for the person judging: shown, not stored
        print(
            f"{qa.id}->{lk.kg_id}:{lk.assertion} '{lk.mention}' -> {lk.name}: "
            f"{sentence_around(qa.question, lk.start, lk.end)}",
            file=sys.stderr,
        )

    verdicts = json.loads(args.verdicts.read_text()) if args.verdicts.exists() else {}
    judged = [verdicts[r["key"]] for r in rows if r["key"] in verdicts]
    n = len(items)
    result = {
        "bench": "question_links",
        "rows": n,
        "link_seconds": round(secs, 2),
        "question_mentions": sum(by_assertion.values()),
        "by_assertion": dict(by_assertion.most_common()),
        "rows_without_present_finding": rows_no_present,
        "rows_whose_links_are_all_not_present": rows_lost_present,
        "options": options,
        "options_linked": options_linked,
        "pct_options_linked": round(100 * options_linked / options, 1) if options else None,
        "rows_options_unlinked": options_unlinked,
        "negated_examples": [f"{i}: {m}" for i, m in rng.sample(negated, min(15, len(negated)))],
        "sample_seed": args.seed,
        "sample_judged": len(judged),
        "sample_correct": sum(bool(v) for v in judged),
        "pct_sample_correct": round(100 * sum(map(bool, judged)) / len(judged), 1)
        if judged
        else None,
        "sample_wrong": [r["key"] for r in rows if verdicts.get(r["key"]) is False],
        "sample": rows,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    summary = {k: v for k, v in result.items() if k not in ("sample", "negated_examples")}
    print(json.dumps(summary))
    if not judged:
        print(
            f"no verdicts yet: judge the {len(rows)} links in {OUT.relative_to(REPO)} and "
            f'write {VERDICTS.relative_to(REPO)} as {{"row_id->kg_id": true|false}}',
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
