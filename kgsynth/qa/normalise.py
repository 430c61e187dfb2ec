"""Row layouts -> one QARecord. A row that cannot be normalised raises RowRejected."""

from __future__ import annotations

import json
import string
from typing import Any

from kgsynth.records import QARecord

LETTERS = string.ascii_uppercase


class RowRejected(Exception):
    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.field = field


def detect_layout(row: dict[str, Any]) -> str:
    keys = set(row)
    if {"opa", "opb", "cop"} <= keys:
        return "medmcqa"
    if "final_decision" in keys:
        return "pubmedqa"
    if "choices" in keys:
        return "mmlu"
    if "options" in keys and "answer_idx" in keys:
        return "medqa"
    return "generic"


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v != v:  # NaN from a CSV/Parquet gap
        return ""
    return str(v).strip()


def _maybe_json(v: Any) -> Any:
    # CSV/Parquet may carry list/dict columns as JSON strings
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def _question(row: dict[str, Any], max_chars: int) -> str:
    if "question" not in row and "QUESTION" not in row:
        raise RowRejected("missing_question", "no 'question' field", "question")
    q = _text(row.get("question", row.get("QUESTION")))
    if not q:
        raise RowRejected("empty_question", "question is empty", "question")
    if len(q) > max_chars:
        raise RowRejected(
            "question_too_long",
            f"question has {len(q):,} characters (max {max_chars:,})",
            "question",
        )
    return q


def _options(raw: Any) -> dict[str, str]:
    raw = _maybe_json(raw)
    if raw is None:
        return {}
    if isinstance(raw, dict):
        opts = {str(k).strip().upper(): _text(v) for k, v in raw.items() if v is not None}
    elif isinstance(raw, (list, tuple)):
        if len(raw) > len(LETTERS):
            raise RowRejected(
                "bad_options", f"{len(raw)} options: at most {len(LETTERS)} have letters", "options"
            )
        opts = {LETTERS[i]: _text(v) for i, v in enumerate(raw)}
    else:
        raise RowRejected(
            "bad_options", f"options must be a mapping or list, got {type(raw).__name__}", "options"
        )
    if any(len(k) != 1 or k not in LETTERS for k in opts):
        raise RowRejected(
            "bad_options", f"option keys must be letters, got {sorted(opts)}", "options"
        )
    if any(not v for v in opts.values()):
        raise RowRejected("bad_options", "an option text is empty", "options")
    return dict(sorted(opts.items()))


def _resolve(options: dict[str, str], answer: str, letter: str | None) -> tuple[str, str | None]:
    """Check answer text and letter agree with the options; fill in whichever is missing."""
    if not options:
        if not answer:
            raise RowRejected("missing_answer", "no answer given", "answer")
        return answer, None
    if letter:
        if letter not in options:
            raise RowRejected(
                "answer_not_in_options",
                f"answer letter '{letter}' is not an option key",
                "answer_idx",
            )
        if answer and not _same(answer, options[letter]):
            raise RowRejected(
                "answer_not_in_options",
                f"answer '{answer[:80]}' disagrees with option {letter} '{options[letter][:80]}'",
                "answer",
            )
        return options[letter], letter
    if not answer:
        raise RowRejected("missing_answer", "no answer given", "answer")
    hits = [k for k, v in options.items() if _same(v, answer)]
    if not hits:
        raise RowRejected(
            "answer_not_in_options", f"answer '{answer[:80]}' is not among the options", "answer"
        )
    return options[hits[0]], hits[0]


def _index_letter(v: Any, n: int, field: str, base: int = 0) -> str:
    if isinstance(v, str) and len(v.strip()) == 1 and v.strip().upper() in LETTERS:
        return v.strip().upper()
    try:
        i = int(v) - base
    except (TypeError, ValueError):
        raise RowRejected(
            "missing_answer", f"'{field}' is not an option index: {v!r}", field
        ) from None
    if not 0 <= i < n:
        raise RowRejected("answer_not_in_options", f"'{field}' index {v} out of range", field)
    return LETTERS[i]


def normalise_row(
    row: dict[str, Any], *, layout: str | None, default_id: str, max_question_chars: int
) -> QARecord:
    layout = layout or detect_layout(row)
    question = _question(row, max_question_chars)
    meta: dict[str, str] = {}
    if layout == "medqa":
        if "answer" not in row and "answer_idx" not in row:
            raise RowRejected("missing_answer", "no 'answer' or 'answer_idx'", "answer")
        options = _options(row.get("options"))
        letter = _text(row.get("answer_idx")).upper() or None
        answer, letter = _resolve(options, _text(row.get("answer")), letter)
        if row.get("meta_info"):
            meta["meta_info"] = _text(row["meta_info"])
    elif layout == "medmcqa":
        options = _options({k: row.get(f"op{k.lower()}") for k in "ABCD"})
        if row.get("cop") is None or _text(row.get("cop")) == "":
            raise RowRejected("missing_answer", "no 'cop' (correct option)", "cop")
        # the Hugging Face release numbers options 0..3
        answer, letter = _resolve(options, "", _index_letter(row["cop"], len(options), "cop"))
        for k in ("subject_name", "topic_name", "exp"):
            if _text(row.get(k)):
                meta[k] = _text(row[k])
    elif layout == "pubmedqa":
        options = {"A": "yes", "B": "no", "C": "maybe"}
        decision = _text(row.get("final_decision")).lower()
        if not decision:
            raise RowRejected("missing_answer", "no 'final_decision'", "final_decision")
        answer, letter = _resolve(options, decision, None)
        if _text(row.get("long_answer")):
            meta["long_answer"] = _text(row["long_answer"])
    elif layout == "mmlu":
        options = _options(row.get("choices"))
        if row.get("answer") is None or _text(row.get("answer")) == "":
            raise RowRejected("missing_answer", "no 'answer' index", "answer")
        answer, letter = _resolve(options, "", _index_letter(row["answer"], len(options), "answer"))
        if _text(row.get("subject")):
            meta["subject"] = _text(row["subject"])
    else:
        options = _options(row.get("options"))
        answer, letter = _resolve(options, _text(row.get("answer")), None)
    rid = _text(row.get("id")) or default_id
    return QARecord(
        id=rid,
        source=layout if layout != "generic" else "generic",
        question=question,
        options=options,
        answer=answer,
        answer_idx=letter,
        meta=meta,
    )
