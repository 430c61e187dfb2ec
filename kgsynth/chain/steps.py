"""The MedReason chain's steps, registered as LLM blocks (kgsynth.llm.blocks.PromptBlock).

A step is a name, a versioned prompt template in kgsynth/llm/prompts/ and the pydantic model
its JSON reply must fit. Adding one is one `register_step` call here plus its template file
(`<name>.v1.j2`); `STEPS` is what was registered, in order, and every exported row records
the version of each step that shaped it (kgsynth.chain.run.chain_versions).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, Field, model_validator

from kgsynth.llm import blocks
from kgsynth.llm.blocks import PromptBlock, Reply
from kgsynth.llm.prompts import template

R = TypeVar("R", bound=BaseModel)

STEPS: dict[str, PromptBlock[Any]] = {}


def add_step(step: PromptBlock[R]) -> PromptBlock[R]:
    """Register a block as a chain step. Its name must be new, and its template file must
    exist and be named after the step (`<name>.v<N>`): checked now, at import."""
    if step.name in STEPS:
        raise ValueError(f"chain step {step.name!r} is registered twice")
    if not step.version.startswith(f"{step.name}.v"):
        raise ValueError(f"chain step {step.name!r}: template {step.version!r} is not <name>.vN")
    template(step.version)  # a missing or broken template fails here, not mid-build
    STEPS[step.name] = step
    return step


def register_step(name: str, template_version: str, reply: type[R]) -> PromptBlock[R]:
    return add_step(PromptBlock(name, template_version, reply))


# -- reply models ---------------------------------------------------------------------------
class TypedEntity(Reply):
    name: str = Field(min_length=1)
    type: str = ""


class ExtractedEntities(Reply):
    question_entities: list[TypedEntity] = Field(default_factory=list)
    answer_entities: list[TypedEntity] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _names_a_list(cls, data: Any) -> Any:
        # extra keys are ignored and both lists default to empty, so without this check any
        # object ({"entities": [...]}, {}) would read as "no entities" instead of a mismatch
        if isinstance(data, dict) and not {"question_entities", "answer_entities"} & set(data):
            raise ValueError("neither question_entities nor answer_entities is given")
        return data


class Disambiguation(Reply):
    choice: str | None


class Reformulation(Reply):
    description: str = Field(min_length=1)
    conclusion: str = Field(min_length=1)


class PathChoice(Reply):
    keep: list[int]


class ReasonedAnswer(Reply):
    answer: str = Field(min_length=1)


# -- the steps, in the order a build runs them ----------------------------------------------
EXTRACT = register_step("extract_entities", "extract_entities.v1", ExtractedEntities)
DISAMBIGUATE = register_step("disambiguate", "disambiguate.v1", Disambiguation)
REFORMULATE = register_step("reformulate", "reformulate.v1", Reformulation)
PRUNE = register_step("prune_paths", "prune_paths.v1", PathChoice)
ANSWER = register_step("answer_from_reasoning", "answer_from_reasoning.v1", ReasonedAnswer)
JUDGE = add_step(blocks.JUDGE)  # defined below the chain: verify's answer match asks it too
