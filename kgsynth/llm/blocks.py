"""LLM blocks: a versioned prompt template and the pydantic model its JSON reply must fit.

A block renders its template from plain values; sending, caching, retries and JSON repair
happen once, in the runner and client underneath (kgsynth.llm.structured). The template's
file name carries its version ("prune_paths.v1"), and every exported row records the version
of each block that shaped it.

The chain registers its steps as blocks (kgsynth.chain.steps). The judge lives here, below
both the chain and the verifiers: the chain's quality filter and verify's free-text answer
match ask it the same question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from kgsynth.llm.prompts import template

R = TypeVar("R", bound=BaseModel)


class Reply(BaseModel):
    """Base of every reply model."""

    model_config = ConfigDict(extra="ignore")  # a chatty model's extra keys are harmless


@dataclass(frozen=True)
class PromptBlock(Generic[R]):
    name: str  # usage is counted under this name
    version: str  # template file stem, e.g. "reformulate.v1"
    reply: type[R]

    def prompt(self, **values: Any) -> str:
        return template(self.version).render(**values)


class Judgement(Reply):
    correct: bool


# does a predicted answer mean the gold one? (question, gold, predicted)
JUDGE = PromptBlock("judge", "judge.v1", Judgement)
