"""Answer-link yield on MedQA vs HPO, a random sample for checking by eye, and what the KG
lacks: unlinked answers broken down by kind.

Prints the sample (answer text -> KG node) to stderr for a person to judge; the committed
JSON holds only counts, row ids and KG ids, never MedQA text (it stays in ../shared).
Usage: python bench/answer_links.py [--sample 50] [--seed 7] [--verdicts FILE]
  FILE: JSON {"row_id->kg_id": true|false}, a person's judgements of the printed sample;
  keyed by the link, so a verdict stops counting when the linker changes its answer.
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
from kgsynth.defaults import DEFAULT_CACHE_DIR  # noqa: E402
from kgsynth.kg import load_kg  # noqa: E402
from kgsynth.linking.linker import Linker  # noqa: E402
from kgsynth.qa import read_qa  # noqa: E402

MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"


# Rough, rule-based kinds: good enough to say what the KG lacks, not a classifier. Order
# matters: the first kind whose pattern matches wins.
def _words(*words: str, prefix: bool = False) -> re.Pattern[str]:
    tail = r"\w*" if prefix else r"\b"
    return re.compile(r"\b(?:" + "|".join(words) + ")" + tail, re.I)


_KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("number/statistic", re.compile(r"^[\d\s.,/%:;<>=+-]+$")),
    (
        "number/statistic",
        _words(
            "sample",
            "ratio",
            "probability",
            "sensitivity",
            "specificity",
            "variance",
            "odds",
            "risk",
            "power",
            "bias",
            "confound",
            "statistic",
            "error",
            "study",
            "trial",
            "rate",
            "value",
            "interval",
            "prevalence",
            "incidence",
        ),
    ),
    (
        "organism",
        _words(
            "virus",
            "bacteri",
            "plasmodium",
            "candida",
            "staphylococc",
            "streptococc",
            "escherichia",
            "mycobacter",
            "chlamydia",
            "neisseria",
            "haemophilus",
            "clostridi",
            "pseudomonas",
            "borrelia",
            "treponema",
            "giardia",
            "toxoplasma",
            "fung",
            "aspergill",
            "cryptococc",
            "listeria",
            "salmonella",
            "shigella",
            "helicobacter",
            "enterococc",
            "klebsiella",
            "legionella",
            "rickettsia",
            "schistosom",
            "trichomon",
            "entamoeba",
            "coxsackie",
            "herpes",
            "parvovirus",
            prefix=True,
        ),
    ),
    (
        "drug/substance",
        re.compile(
            r"\w(?:mab|nib|pril|sartan|olol|dipine|azole|mycin|cillin|cycline|floxacin|"
            r"statin|tidine|prazole|vir|azepam|olam|barbital|thiazide|semide|parin|"
            r"platin|rubicin|taxel|trexate|uride|profen|oxacin|caine|triptan|setron|"
            r"lukast|gliptin|glitazone|gliflozin|dronate|sone|olone|amine|idine|oxine|"
            r"etine|apine|idone|azine)\b"
            r"|\b(?:acid|vitamin|hormone|insulin|steroid|antibod|toxin|inhibitor|agonist|"
            r"antagonist|blocker|drops|supplement|vaccine|antibiotic|therapy with|"
            r"aspirin|heparin|warfarin|lithium|morphine|naloxone|epinephrine|atropine|"
            r"alcohol|nicotine|cocaine|ethanol)",
            re.I,
        ),
    ),
    (
        "management/procedure",
        _words(
            "administer",
            "treat",
            "start",
            "begin",
            "perform",
            "refer",
            "reassur",
            "counsel",
            "surgery",
            "surgical",
            "excision",
            "biopsy",
            "therapy",
            "transfusion",
            "cast",
            "intubat",
            "dialysis",
            "ultrasound",
            "ct",
            "mri",
            "x-ray",
            "radiograph",
            "test",
            "testing",
            "examination",
            "culture",
            "screening",
            "measurement",
            "monitor",
            "observation",
            "follow-up",
            "no further",
            "discontinue",
            "repeat",
            "obtain",
            "order",
            "consult",
            "ecg",
            "echocardi",
            "angiogra",
            "catheter",
            "drain",
            "inject",
            "intervention",
            "vaccin",
            "prophylaxis",
            "immunization",
            "disclose",
            "tell",
            "explain",
            "inform",
            "report",
            "ask",
            "recommend",
            "admit",
            "continue",
            "avoid",
            "stop",
            "increase the dose",
            "switch",
            "prescribe",
            "evaluation",
        ),
    ),
    ("management/procedure", re.compile(r"\w(?:ectomy|otomy|ostomy|plasty|scopy|graphy)\b")),
    (
        "mechanism/physiology",
        _words(
            "inhibit",
            "increase",
            "decrease",
            "activation",
            "binding",
            "receptor",
            "synthesis",
            "release",
            "production",
            "transport",
            "deposition",
            "secretion",
            "upregulat",
            "downregulat",
            "mutation",
            "deficien",
            "defect",
            "dysfunction",
            "impaired",
            "cross-link",
            "channel",
            "enzyme",
            "pathway",
            "cell",
            "mediated",
            "via",
            "due to",
            "caused by",
            "hypersensitivity",
            "type i",
            "type ii",
            "type iii",
            "type iv",
            "phosphorylat",
            "gene",
            prefix=True,
        ),
    ),
    (
        "anatomy/structure",
        _words(
            "artery",
            "vein",
            "nerve",
            "muscle",
            "lobe",
            "gland",
            "duct",
            "ligament",
            "tendon",
            "bone",
            "cortex",
            "nucleus",
            "fasciculus",
            "tract",
            "ventricle",
            "atrium",
            "valve",
            "node",
            "tubule",
            "membrane",
            "layer",
            "space",
            "sinus",
            "pancreas",
            "liver",
            "kidney",
            "spleen",
            "lung",
            "heart",
            "brain",
            "cord",
            "ganglion",
            "canal",
            "fossa",
            "foramen",
            "plexus",
            "gyrus",
            "lymph",
        ),
    ),
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
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR.expanduser())
    args = ap.parse_args()

    batch = read_qa([MEDQA])
    kg = load_kg("hpo", cache_dir=args.cache_dir)
    linker = Linker(kg, LinkingConfig(), args.cache_dir)
    t0 = time.perf_counter()
    linked = [
        (qa, linker.link_answer(qa.answer, linker.abbreviations(qa.question)))
        for qa in batch.records
    ]
    secs = time.perf_counter() - t0
    hits = [(qa, links[0]) for qa, links in linked if links]
    misses = [qa for qa, links in linked if not links]
    methods = Counter(link.method for _, link in hits)
    kinds = Counter(kind_of(qa.answer) for qa in misses)

    rng = random.Random(args.seed)
    sample = rng.sample(hits, min(args.sample, len(hits)))
    for qa, link in sample:
        target = f"{link.kg_id} {link.name!r} ({link.type}, {link.method}, {link.score})"
        print(f"{qa.id}\t{qa.answer!r}\t-> {target}", file=sys.stderr)
    verdicts = json.loads(args.verdicts.read_text()) if args.verdicts else {}
    keys = [f"{qa.id}->{link.kg_id}" for qa, link in sample]
    judged = [verdicts[k] for k in keys if k in verdicts]

    result = {
        "bench": "answer_links",
        "rows": len(batch.records),
        "answers_linked": len(hits),
        "pct_answers_linked": round(100 * len(hits) / len(batch.records), 1),
        "link_seconds": round(secs, 2),
        "by_method": dict(methods.most_common()),
        "sample_seed": args.seed,
        "sample": [
            {"id": qa.id, "kg_id": link.kg_id, "method": link.method} for qa, link in sample
        ],
        "sample_judged": len(judged),
        "sample_correct": sum(bool(v) for v in judged),
        "sample_wrong": [k for k in keys if verdicts.get(k) is False],
        "unlinked_by_kind": dict(kinds.most_common()),
    }
    out = REPO / "bench" / "results" / "answer_links.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
