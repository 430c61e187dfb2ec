"""The MedReason chain as LLM blocks: a versioned prompt template and a reply model each.

A step renders its template from plain values and declares the pydantic model its JSON reply
must fit; sending, caching, retries and JSON repair happen once, in the client underneath.
The template's file name carries its version ("prune_paths.v1"), and every exported row
records the version of each step that shaped it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from kgsynth.llm.prompts import template

StepName = Literal[
    "extract_entities",
    "disambiguate",
    "reformulate",
    "prune_paths",
    "answer_from_reasoning",
    "judge",
]


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a chatty model's extra keys are harmless


class TypedEntity(_Reply):
    name: str = Field(min_length=1)
    type: str = ""


class ExtractedEntities(_Reply):
    question_entities: list[TypedEntity] = Field(default_factory=list)
    answer_entities: list[TypedEntity] = Field(default_factory=list)


class Disambiguation(_Reply):
    choice: str | None


class Reformulation(_Reply):
    description: str = Field(min_length=1)
    conclusion: str = Field(min_length=1)


class PathChoice(_Reply):
    keep: list[int]


class ReasonedAnswer(_Reply):
    answer: str = Field(min_length=1)


class Judgement(_Reply):
    correct: bool


R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Step(Generic[R]):
    name: StepName
    version: str  # template file stem, e.g. "reformulate.v1"
    reply: type[R]

    def prompt(self, **values: Any) -> str:
        return template(self.version).render(**values)


EXTRACT = Step("extract_entities", "extract_entities.v1", ExtractedEntities)
DISAMBIGUATE = Step("disambiguate", "disambiguate.v1", Disambiguation)
REFORMULATE = Step("reformulate", "reformulate.v1", Reformulation)
PRUNE = Step("prune_paths", "prune_paths.v1", PathChoice)
ANSWER = Step("answer_from_reasoning", "answer_from_reasoning.v1", ReasonedAnswer)
JUDGE = Step("judge", "judge.v1", Judgement)

STEPS: dict[str, Step[Any]] = {
    s.name: s for s in (EXTRACT, DISAMBIGUATE, REFORMULATE, PRUNE, ANSWER, JUDGE)
}
