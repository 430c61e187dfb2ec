"""One row in a known layout -> one QARecord. A row that cannot be normalised raises
RowRejected; the layouts themselves live in kgsynth.qa.layouts."""

from __future__ import annotations

from typing import Any

from kgsynth.qa.fields import FileFacts, FileProblem, RowRejected, question_text, text
from kgsynth.qa.layouts import BY_NAME, detect_layout
from kgsynth.records import QARecord

__all__ = ["RowRejected", "normalise_row"]


def normalise_row(
    row: dict[str, Any],
    *,
    layout: str | None,
    default_id: str,
    max_question_chars: int,
    facts: FileFacts | None = None,
) -> QARecord:
    """`layout` is the file's layout (None: detect it from this row's fields alone)."""
    spec = BY_NAME[layout] if layout else detect_layout(row)
    if facts is None:  # no file around it: what this one row tells (an unsure cop stays None)
        try:
            facts = spec.scan([(0, row)])
        except FileProblem:
            facts = FileFacts()
    question = question_text(row, max_question_chars)
    parsed = spec.parse(row, question, facts)
    if not parsed.question:
        raise RowRejected(
            "empty_question", "question is empty once its choices are taken out", "question"
        )
    return QARecord(
        id=text(row.get("id")) or default_id,
        source=spec.name,
        question=parsed.question,
        options=parsed.options,
        answer=parsed.answer,
        answer_idx=parsed.letter,
        meta=parsed.meta,
    )
