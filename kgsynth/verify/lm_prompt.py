"""What the likelihood verifier asks a causal LM: one prompt per row, one continuation per
(option, kind).

The prompt is question + lettered options + the reasoning with its conclusion cut off + an
answer cue; every option is then scored as two continuations of that same prompt: its letter
(" C") and its text (" Ectopia lentis"). The text is scored on its own rather than after the
letter because, once the letter is given, a model just copies the text from the option list
and every option's text looks equally likely.

The prompt never depends on the option being scored, so its tokens (and its KV cache) are
shared by all of a row's continuations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kgsynth.linking.normalise import norm_key
from kgsynth.records import GeneratedQA
from kgsynth.sections import strip_conclusion

PROMPT_VERSION = "likelihood.v1"
ANSWER_CUE = "Answer:"

Kind = Literal["letter", "text"]


@dataclass(frozen=True)
class ScoreRow:
    """The fields the verifier reads from a row."""

    id: str
    question: str
    options: dict[str, str]  # letter -> text, in display order
    gold: str | None  # gold option letter; None when it cannot be resolved
    reasoning: str  # conclusion already removed


def gold_letter(options: dict[str, str], answer_idx: str | None, answer: str) -> str | None:
    """The gold option's letter: answer_idx when it names an option, else the one option whose
    normalised text equals the answer's."""
    if answer_idx in options:
        return answer_idx
    key = norm_key(answer)
    hits = [k for k, t in options.items() if key and norm_key(t) == key]
    return hits[0] if len(hits) == 1 else None


def from_generated(item: GeneratedQA) -> ScoreRow:
    qa = item.pathed.linked.qa
    return ScoreRow(
        id=qa.id,
        question=qa.question,
        options=dict(qa.options),
        gold=gold_letter(qa.options, qa.answer_idx, qa.answer),
        reasoning=strip_conclusion(item.generation.reasoning),
    )


def prompt_text(row: ScoreRow) -> str:
    opts = "\n".join(f"{k}. {t}" for k, t in row.options.items())
    return (
        f"Question: {row.question.strip()}\n\nOptions:\n{opts}\n\n"
        f"Reasoning:\n{row.reasoning.strip()}\n\n{ANSWER_CUE}"
    )


def continuations(row: ScoreRow) -> list[tuple[str, Kind, str]]:
    """(letter, kind, text) per continuation: all letters first, then all option texts. The
    leading space belongs to the continuation, as a model would write it after the cue."""
    letters: list[tuple[str, Kind, str]] = [(k, "letter", f" {k}") for k in row.options]
    texts: list[tuple[str, Kind, str]] = [
        (k, "text", f" {t.strip()}") for k, t in row.options.items()
    ]
    return letters + texts
