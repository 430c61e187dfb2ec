"""Answer-link yield on MedQA vs HPO, a random sample for checking by eye, and what the KG
lacks: unlinked answers broken down by kind.

Prints the sample (answer text -> KG node) to stderr for a person to judge; the committed
JSON holds only counts, row ids and KG ids, never MedQA text (it stays in ../shared).
Usage: python bench/answer_links.py [--sample 50] [--seed 7] [--verdicts FILE]
  FILE: JSON {row_id: true|false} with the person's judgements of the printed sample.
"""

from __future__ import annotations

import argparse
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
from kgsynth.kg import load_kg  # noqa: E402
from kgsynth.linking.linker import Linker  # noqa: E402
from kgsynth.qa import read_qa  # noqa: E402

MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"

# Rough, rule-based kinds: good enough to say what the KG lacks, not a classifier.
_KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("number/statistic", re.compile(r"^[\d\s.,/%:;-]+$|\b(sample|ratio|probability|sensitivity|specificity|variance|odds|risk|power|bias|confound|test statistic)\b", re.I)),
    ("management/procedure", re.compile(r"\b(administer|treat|start|begin|perform|refer|reassur|counsel|surgery|surgical|excision|biopsy|therapy|transfusion|cast|intubat|dialysis|ectomy|otomy|plasty|scopy|graphy|ultrasound|ct\b|mri|x-ray|radiograph|test|testing|examination|culture|screening|measurement|level|monitor|observation|follow-up|no further|discontinue|repeat|obtain|order|consult|ecg|echocardi|angiogra|laparotomy|catheter|drain|inject|intervention|vaccin|prophylaxis|immunization|disclose|tell|explain|inform|report|ask|recommend)\b", re.I)),
    ("drug/substance", re.compile(r"(mab|nib|pril|sartan|olol|dipine|azole|mycin|cillin|cycline|floxacin|statin|tidine|prazole|vir|ine|ide|ate|one|ol|in|am|il)\b|\b(acid|sodium|potassium|calcium|iron|copper|zinc|vitamin|hormone|insulin|steroid|antibod|toxin|inhibitor|agonist|antagonist|blocker|drops|eye drops)\b", re.I)),
    ("mechanism/physiology", re.compile(r"\b(inhibit|increase|decrease|activation|binding|receptor|synthesis|release|production|transport|deposition|secretion|upregulat|downregulat|mutation|deficien|defect|dysfunction|impaired|cross-link|channel|enzyme|pathway|cell|mediated|via|due to|caused by)", re.I)),
    ("organism", re.compile(r"\b(virus|bacteri|[A-Z][a-z]+ (?:[a-z]+)(?:ae|us|is|um|i)\b|plasmodium|candida|staphylococc|streptococc|escherichia|mycobacter|chlamydia|neisseria|haemophilus|clostridi|pseudomonas|borrelia|treponema|giardia|toxoplasma)", re.I)),
    ("anatomy/structure", re.compile(r"\b(artery|vein|nerve|muscle|lobe|gland|duct|ligament|tendon|bone|cortex|nucleus|fasciculus|tract|ventricle|atrium|valve|node|tubule|membrane|layer|space|sinus|pancreas|liver|kidney|spleen|lung|heart|brain)\b", re.I)),
]


def kind_of(answer: str) -> str:
    for kind, pat in _KINDS:
        if pat.search(answer):
            return kind
    return "disease/finding not in HPO (or not matched)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--verdicts", type=Path, default=None)
    ap.add_argument("--cache-dir", type=Path, default=Path("~/.cache/kgsynth").expanduser())
    args = ap.parse_args()

    batch = read_qa([MEDQA])
    kg = load_kg("hpo", cache_dir=args.cache_dir)
    linker = Linker(kg, LinkingConfig(), args.cache_dir)
    t0 = time.perf_counter()
    linked = [(qa, linker.link_answer(qa.answer, linker.abbreviations(qa.question))) for qa in batch.records]
    secs = time.perf_counter() - t0
    hits = [(qa, links[0]) for qa, links in linked if links]
    misses = [qa for qa, links in linked if not links]
    methods = Counter(link.method for _, link in hits)
    kinds = Counter(kind_of(qa.answer) for qa in misses)

    rng = random.Random(args.seed)
    sample = rng.sample(hits, min(args.sample, len(hits)))
    for qa, link in sample:
        print(f"{qa.id}\t{qa.answer!r}\t-> {link.kg_id} {link.name!r} ({link.type}, {link.method}, {link.score})", file=sys.stderr)
    verdicts = json.loads(args.verdicts.read_text()) if args.verdicts else {}
    judged = [verdicts[qa.id] for qa, _ in sample if qa.id in verdicts]

    result = {
        "bench": "answer_links",
        "rows": len(batch.records),
        "answers_linked": len(hits),
        "pct_answers_linked": round(100 * len(hits) / len(batch.records), 1),
        "link_seconds": round(secs, 2),
        "by_method": dict(methods.most_common()),
        "sample_seed": args.seed,
        "sample": [{"id": qa.id, "kg_id": link.kg_id, "method": link.method} for qa, link in sample],
        "sample_judged": len(judged),
        "sample_correct": sum(bool(v) for v in judged),
        "unlinked_by_kind": dict(kinds.most_common()),
    }
    (REPO / "bench" / "results" / "answer_links.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
