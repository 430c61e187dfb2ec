"""Field helpers shared by the row layouts (kgsynth.qa.layouts).

A row that cannot be normalised raises RowRejected (it becomes a reject row); a fact about a
whole file that cannot be settled raises FileProblem (read_qa turns it into an InputError).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

LETTERS = string.ascii_uppercase


class RowRejected(Exception):
    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.field = field


class FileProblem(Exception):
    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.field = field


@dataclass(frozen=True)
class FileFacts:
    """What a layout learnt from the whole file before reading any row of it."""

    cop_base: int | None = None  # MedMCQA: 0 or 1, the number of option A in 'cop'


@dataclass(frozen=True)
class Parsed:
    question: str
    options: dict[str, str]
    answer: str
    letter: str | None
    meta: dict[str, str] = field(default_factory=dict)


def text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v != v:  # NaN from a CSV/Parquet gap
        return ""
    return str(v).strip()


def maybe_json(v: Any) -> Any:
    # CSV/Parquet may carry list/dict columns as JSON strings
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def int_like(v: Any) -> int | None:
    """An integer written as int, integral float or digits; None for anything else."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else None
    if isinstance(v, str) and re.fullmatch(r"-?\d+(\.0*)?", v.strip()):
        return int(float(v))
    return None


def question_text(row: dict[str, Any], max_chars: int) -> str:
    if "question" not in row and "QUESTION" not in row:
        raise RowRejected("missing_question", "no 'question' field", "question")
    q = text(row.get("question", row.get("QUESTION")))
    if not q:
        raise RowRejected("empty_question", "question is empty", "question")
    if len(q) > max_chars:
        raise RowRejected(
            "question_too_long",
            f"question has {len(q):,} characters (max {max_chars:,})",
            "question",
        )
    return q


def options_from(raw: Any, field: str = "options") -> dict[str, str]:
    raw = maybe_json(raw)
    if raw is None:
        return {}
    if isinstance(raw, dict):
        opts = {str(k).strip().upper(): text(v) for k, v in raw.items() if v is not None}
    elif isinstance(raw, (list, tuple)):
        if len(raw) > len(LETTERS):
            raise RowRejected(
                "bad_options", f"{len(raw)} options: at most {len(LETTERS)} have letters", field
            )
        opts = {LETTERS[i]: text(v) for i, v in enumerate(raw)}
    else:
        raise RowRejected(
            "bad_options", f"options must be a mapping or list, got {type(raw).__name__}", field
        )
    if any(len(k) != 1 or k not in LETTERS for k in opts):
        raise RowRejected("bad_options", f"option keys must be letters, got {sorted(opts)}", field)
    if any(not v for v in opts.values()):
        raise RowRejected("bad_options", "an option text is empty", field)
    return dict(sorted(opts.items()))


# "C", "(C)", "C." / "C)" / "C:" with or without the option text after it
_LETTER_FORM = re.compile(r"(?:\(([A-Z])\)|([A-Z])(?:[.):]|$))\s*(.*)", re.S)


def letter_form(answer: str) -> tuple[str, str] | None:
    """An answer written as a letter, maybe with its text: (letter, text or "")."""
    m = _LETTER_FORM.fullmatch(answer.strip())
    if m is None:
        return None
    return m.group(1) or m.group(2), m.group(3).strip()


def letter_of(v: Any) -> str | None:
    """A letter field ('C', 'c', '(C)', 'C.'): the letter, or the raw upper-cased text."""
    raw = text(v)
    form = letter_form(raw.upper()) if len(raw) <= 3 else None
    if form is not None and not form[1]:
        return form[0]
    return raw.upper() or None


def _clip(s: str) -> str:
    return s if len(s) <= 80 else s[:77] + "..."


def _agrees(options: dict[str, str], answer: str, letter: str, letter_field: str) -> None:
    """The answer text must be option `letter`, as its text or as that letter (+ its text)."""
    if same(answer, options[letter]):
        return
    hits = [k for k, v in options.items() if same(v, answer)]
    form = letter_form(answer)
    if hits:
        named = f"is option {hits[0]}"
    elif form is not None and form[0] != letter:
        named = f"names option {form[0]}"
    elif form is not None and (not form[1] or same(form[1], options[letter])):
        return
    else:
        raise RowRejected(
            "answer_mismatch",
            f"answer '{_clip(answer)}' disagrees with option {letter} "
            f"'{_clip(options[letter])}' ('{letter_field}')",
            "answer",
        )
    raise RowRejected(
        "answer_mismatch",
        f"answer '{_clip(answer)}' {named} but '{letter_field}' is '{letter}'",
        "answer",
    )


def resolve(
    options: dict[str, str], answer: str, letter: str | None, letter_field: str = "answer_idx"
) -> tuple[str, str | None]:
    """Check answer text and letter agree with the options; fill in whichever is missing."""
    if not options:
        if not answer:
            raise RowRejected("missing_answer", "no answer given", "answer")
        return answer, None
    if letter:
        if letter not in options:
            raise RowRejected(
                "answer_not_in_options",
                f"answer letter '{letter}' is not an option key ({', '.join(options)})",
                letter_field,
            )
        if answer:
            _agrees(options, answer, letter, letter_field)
        return options[letter], letter
    if not answer:
        raise RowRejected("missing_answer", "no answer given", "answer")
    hits = [k for k, v in options.items() if same(v, answer)]
    if hits:
        return options[hits[0]], hits[0]
    form = letter_form(answer)
    if form is None or form[0] not in options:
        what = "is not among the options" if form is None else f"names no option ({form[0]})"
        raise RowRejected("answer_not_in_options", f"answer '{_clip(answer)}' {what}", "answer")
    named, rest = form
    if rest and not same(rest, options[named]):
        raise RowRejected(
            "answer_mismatch",
            f"answer '{_clip(answer)}' names option {named} but option {named} is "
            f"'{_clip(options[named])}'",
            "answer",
        )
    return options[named], named


def index_letter(v: Any, n: int, field: str) -> str:
    """A 0-based option index or a letter -> the letter."""
    if isinstance(v, str) and len(v.strip()) == 1 and v.strip().upper() in LETTERS:
        return v.strip().upper()
    i = int_like(v)
    if i is None:
        raise RowRejected("missing_answer", f"'{field}' is not an option index: {v!r}", field)
    if not 0 <= i < n:
        raise RowRejected("answer_not_in_options", f"'{field}' index {v} out of range", field)
    return LETTERS[i]
