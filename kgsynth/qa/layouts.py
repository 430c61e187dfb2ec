"""The QA row layouts, in the order they are detected.

A file's layout is detected once, from the fields its rows use (CSV/Parquet: the columns;
JSON: every key of every row), so one bad row cannot switch layouts and every row of a file
is read the same way. Each layout names the fields that mark it, parses one row into Parsed,
and may learn facts from the whole file first (MedMCQA's cop numbering).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kgsynth.qa import medmcqa
from kgsynth.qa.choices import split_choices
from kgsynth.qa.fields import (
    FileFacts,
    Parsed,
    RowRejected,
    index_letter,
    letter_of,
    maybe_json,
    options_from,
    resolve,
    same,
    text,
)

Rows = list[tuple[int, dict[str, Any]]]


def _no_facts(rows: Rows) -> FileFacts:
    return FileFacts()


@dataclass(frozen=True)
class Layout:
    name: str
    marks: tuple[frozenset[str], ...]  # the file is this layout if it has all of any one set
    parse: Callable[[dict[str, Any], str, FileFacts], Parsed]
    scan: Callable[[Rows], FileFacts] = _no_facts

    def matches(self, fields: frozenset[str]) -> bool:
        return not self.marks or any(m <= fields for m in self.marks)


def _meta(row: dict[str, Any], *keys: str) -> dict[str, str]:
    return {k.lower(): text(row[k]) for k in keys if text(row.get(k))}


def _no_image(row: dict[str, Any], *keys: str) -> None:
    # the pipeline reads text only: a question about an image cannot be reasoned over
    for k in keys:
        if maybe_json(row.get(k)) not in (None, "", [], {}):
            raise RowRejected("needs_image", "the question refers to an image", k)


def _medqa_like(row: dict[str, Any], question: str, meta: dict[str, str]) -> Parsed:
    options = options_from(row.get("options"))
    answer, letter = resolve(options, text(row.get("answer")), letter_of(row.get("answer_idx")))
    return Parsed(question, options, answer, letter, meta)


def _medqa(row: dict[str, Any], question: str, facts: FileFacts) -> Parsed:
    if "answer" not in row and "answer_idx" not in row:
        raise RowRejected("missing_answer", "no 'answer' or 'answer_idx'", "answer")
    return _medqa_like(row, question, _meta(row, "meta_info"))


def _generic(row: dict[str, Any], question: str, facts: FileFacts) -> Parsed:
    return _medqa_like(row, question, {})


def _medxpertqa(row: dict[str, Any], question: str, facts: FileFacts) -> Parsed:
    _no_image(row, "images")
    options = options_from(row.get("options"))
    if not text(row.get("label")):
        raise RowRejected("missing_answer", "no 'label' (answer letter)", "label")
    answer, letter = resolve(options, text(row.get("answer")), letter_of(row["label"]), "label")
    # the question repeats the options after "Answer Choices:"; keep the stem when they agree
    split = split_choices(question)
    if split is not None and split[0] and _same_options(split[1], options):
        question = split[0]
    meta = _meta(row, "medical_task", "body_system", "question_type")
    return Parsed(question, options, answer, letter, meta)


def _same_options(a: dict[str, str], b: dict[str, str]) -> bool:
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


PUBMEDQA_OPTIONS = {"A": "yes", "B": "no", "C": "maybe"}


def _pubmedqa(row: dict[str, Any], question: str, facts: FileFacts) -> Parsed:
    decision = text(row.get("final_decision")).lower()
    if not decision:
        raise RowRejected("missing_answer", "no 'final_decision'", "final_decision")
    if decision not in PUBMEDQA_OPTIONS.values():
        raise RowRejected(
            "answer_not_in_options", f"'{decision}' is not yes, no or maybe", "final_decision"
        )
    answer, letter = resolve(PUBMEDQA_OPTIONS, decision, None)
    meta = _meta(row, "long_answer", "LONG_ANSWER")
    # the original release has CONTEXTS; the Hugging Face one has context.contexts
    context = maybe_json(row.get("context"))
    nested = context.get("contexts") if isinstance(context, dict) else None
    contexts = maybe_json(row.get("CONTEXTS", nested))
    if isinstance(contexts, (list, tuple)) and any(text(c) for c in contexts):
        meta["contexts"] = "\n\n".join(text(c) for c in contexts if text(c))
    elif text(contexts):
        meta["contexts"] = text(contexts)
    return Parsed(question, dict(PUBMEDQA_OPTIONS), answer, letter, meta)


def _mmlu(row: dict[str, Any], question: str, facts: FileFacts) -> Parsed:
    options = options_from(row.get("choices"), "choices")
    if text(row.get("answer")) == "":
        raise RowRejected("missing_answer", "no 'answer' index", "answer")
    answer, letter = resolve(options, "", index_letter(row["answer"], len(options), "answer"))
    return Parsed(question, options, answer, letter, _meta(row, "subject"))


HLE_TYPES = ("multipleChoice", "exactMatch")


def _hle(row: dict[str, Any], question: str, facts: FileFacts) -> Parsed:
    kind = text(row.get("answer_type"))
    if kind not in HLE_TYPES:
        raise RowRejected(
            "bad_answer_type", f"'{kind}' is not one of {', '.join(HLE_TYPES)}", "answer_type"
        )
    _no_image(row, "image")
    meta = _meta(row, "category", "raw_subject", "rationale")
    if kind == "exactMatch":  # open-ended: no options, the answer text is the gold
        answer, letter = resolve({}, text(row.get("answer")), None)
        return Parsed(question, {}, answer, letter, meta)
    split = split_choices(question)
    if split is None:
        raise RowRejected(
            "bad_options",
            "multipleChoice row lists no 'Answer Choices:' in its question",
            "question",
        )
    stem, raw = split
    options = options_from(raw, "question")
    answer, letter = resolve(options, text(row.get("answer")), None)
    return Parsed(stem, options, answer, letter, meta)


def _marks(*sets: Iterable[str]) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(s) for s in sets)


# detection order: the first layout whose marks the file's fields hold
REGISTRY: tuple[Layout, ...] = (
    Layout("hle", _marks({"question", "answer", "answer_type"}), _hle),
    Layout("medmcqa", _marks({"opa", "opb", "cop"}), medmcqa.parse, medmcqa.cop_base),
    Layout("pubmedqa", _marks({"final_decision"}), _pubmedqa),
    Layout("mmlu", _marks({"choices"}), _mmlu),
    Layout("medxpertqa", _marks({"options", "label"}), _medxpertqa),
    Layout("medqa", _marks({"options", "answer_idx"}), _medqa),
    Layout("generic", (), _generic),
)
BY_NAME = {layout.name: layout for layout in REGISTRY}
# names that mark a header row (a CSV whose first row holds none of them has no header)
KNOWN_FIELDS = frozenset().union(*(m for layout in REGISTRY for m in layout.marks)) | {
    "id",
    "QUESTION",
}


def detect_layout(fields: Iterable[str]) -> Layout:
    keys = frozenset(fields)
    return next(layout for layout in REGISTRY if layout.matches(keys))
