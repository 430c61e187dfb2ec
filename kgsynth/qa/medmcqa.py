"""MedMCQA rows: opa..opd and the correct option 'cop'.

The Hugging Face release numbers 'cop' 0..3, the original release 1..4. One file uses one
numbering, so the base is settled per file (cop_base) before any row is read: a 0 anywhere
means 0-based, a 4 anywhere means 1-based; a file with both, or with neither (only 1..3), is
an error rather than a guess. A letter (a..d) needs no base.
"""

from __future__ import annotations

from typing import Any

from kgsynth.qa.fields import (
    LETTERS,
    FileFacts,
    FileProblem,
    Parsed,
    RowRejected,
    int_like,
    options_from,
    resolve,
    text,
)

N_OPTIONS = 4


def cop_base(rows: list[tuple[int, dict[str, Any]]]) -> FileFacts:
    first: dict[int, int] = {}  # cop value 0 or 4 -> the first line holding it
    numbered: int | None = None  # first line with a numeric cop
    for line, row in rows:
        n = int_like(row.get("cop"))
        if n is None:
            continue
        numbered = numbered or line
        if n in (0, N_OPTIONS):
            first.setdefault(n, line)
    if 0 in first and N_OPTIONS in first:
        raise FileProblem(
            f"'cop' is 0 on line {first[0]} and {N_OPTIONS} on line {first[N_OPTIONS]}: "
            f"a file numbers options either 0..{N_OPTIONS - 1} or 1..{N_OPTIONS}",
            line=first[N_OPTIONS],
            field="cop",
        )
    if first:
        return FileFacts(cop_base=0 if 0 in first else 1)
    if numbered is not None:
        raise FileProblem(
            f"cannot tell whether 'cop' counts from 0 (Hugging Face release) or 1 (original "
            f"release): no row has cop 0 or {N_OPTIONS}; write cop as a letter (a..d) or pass "
            "cop_base",
            line=numbered,
            field="cop",
        )
    return FileFacts()


def parse(row: dict[str, Any], question: str, facts: FileFacts) -> Parsed:
    options = options_from({k: row.get(f"op{k.lower()}") for k in LETTERS[:N_OPTIONS]}, "opa..opd")
    cop = row.get("cop")
    if text(cop) == "":
        raise RowRejected("missing_answer", "no 'cop' (correct option)", "cop")
    n = int_like(cop)
    if n is None:
        letter = text(cop).upper()
        if len(letter) != 1 or letter not in LETTERS:
            raise RowRejected("missing_answer", f"'cop' is not an option index: {cop!r}", "cop")
    elif facts.cop_base is None:
        raise RowRejected(
            "ambiguous_cop", "'cop' is a number but the file's base is unknown", "cop"
        )
    else:
        i = n - facts.cop_base
        if not 0 <= i < len(options):
            last = facts.cop_base + len(options) - 1
            raise RowRejected(
                "answer_not_in_options",
                f"'cop' {n} is out of range (this file numbers options {facts.cop_base}..{last})",
                "cop",
            )
        letter = LETTERS[i]
    answer, letter = resolve(options, "", letter, "cop")
    meta = {k: text(row[k]) for k in ("subject_name", "topic_name", "exp") if text(row.get(k))}
    return Parsed(question, options, answer, letter, meta)
