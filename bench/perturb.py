"""Perturbed copies of QA items: what a contaminated training row looks like after light
editing (the decontamination bench, bench/decontam.py, checks they are still caught).

Each copy, from its own seeded RNG (seed, copy number and item id, so a copy does not depend
on which other items are perturbed or in what order):
  - one sentence of the question dropped (never the last, which asks the question; a
    one-sentence question keeps its sentence);
  - 10 % of the remaining question words (at least one) replaced by words drawn from the
    vocabulary of the whole input file;
  - the options shuffled (answer_idx follows the gold text).
Copies are marked synthetic: id `<id>~p<copy>`, meta `synthetic = perturbed`.

Usage: python bench/perturb.py IN.jsonl OUT.jsonl [--seed 0] [--copies 1] [--rate 0.1]
(any QA layout kgsynth reads; OUT is MedQA-layout JSONL). Never commit OUT when IN is a
benchmark: the text is the benchmark's.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kgsynth.qa import read_qa  # noqa: E402
from kgsynth.records import QARecord  # noqa: E402

# a sentence ends at . ? or ! followed by space and a capital or digit: "4.5 mg" and
# "e.g. the" stay inside their sentence
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def vocabulary(records: Iterable[QARecord]) -> list[str]:
    """The distinct words of the questions (sorted: the draw depends on the seed only)."""
    return sorted({w.lower() for r in records for w in _WORD.findall(r.question)})


def item_rng(seed: int, copy: int, item_id: str) -> random.Random:
    return random.Random(f"perturb:{seed}:{copy}:{item_id}")


def perturb(
    rec: QARecord, vocab: list[str], rng: random.Random, rate: float = 0.1, copy: int = 0
) -> QARecord:
    """One perturbed copy of `rec` (see the module docstring)."""
    parts = sentences(rec.question)
    if len(parts) > 1:
        del parts[rng.randrange(len(parts) - 1)]
    words = " ".join(parts).split()
    n = max(1, round(rate * len(words)))
    for i in rng.sample(range(len(words)), min(n, len(words))):
        words[i] = rng.choice(vocab)
    letters = sorted(rec.options)
    texts = [rec.options[k] for k in letters]
    rng.shuffle(texts)
    options = dict(zip(letters, texts, strict=True))
    gold = rec.options.get(rec.answer_idx or "", rec.answer)
    answer_idx = next((k for k, v in options.items() if v == gold), None)
    return QARecord(
        id=f"{rec.id}~p{copy}",
        source=rec.source,
        question=" ".join(words),
        options=options,
        answer=rec.answer,
        answer_idx=answer_idx if rec.answer_idx is not None else None,
        meta=rec.meta | {"synthetic": "perturbed", "of": rec.id},
    )


def perturbed(
    records: list[QARecord], seed: int = 0, copies: int = 1, rate: float = 0.1
) -> Iterator[QARecord]:
    """`copies` perturbed copies of every record (copy-major: all copies 0 first)."""
    vocab = vocabulary(records)
    for c in range(copies):
        for rec in records:
            yield perturb(rec, vocab, item_rng(seed, c, rec.id), rate, c)


def to_row(rec: QARecord) -> dict[str, object]:
    """MedQA's JSONL layout, with the id."""
    return {
        "id": rec.id,
        "question": rec.question,
        "options": rec.options,
        "answer": rec.answer,
        "answer_idx": rec.answer_idx,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--rate", type=float, default=0.1, help="share of words replaced")
    args = ap.parse_args()
    records = read_qa([args.input]).records
    with args.output.open("w", encoding="utf-8") as f:
        for rec in perturbed(records, args.seed, args.copies, args.rate):
            f.write(json.dumps(to_row(rec)) + "\n")
    print(f"wrote {args.output}: {args.copies} perturbed copies of {len(records)} items")


if __name__ == "__main__":
    main()
