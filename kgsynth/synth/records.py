"""Typed records of KG-first synthesis: a sampled chain, then a chain posed as a question.

Chain -> PosedChain -> SynthQA (the build's GeneratedQA, beside the chain it poses) ->
VerifiedQA, so verification and export are the build's own.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from kgsynth.records import GeneratedQA, KGPath


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Step(_Frozen):
    """One step of a chain's constraint: a relation walked forward (head -> tail, as the
    KG stores it) or backward."""

    relation: str
    forward: bool


class Node(_Frozen):
    id: str
    name: str
    type: str


class Chain(_Frozen):
    """A simple path sampled from a rare start entity; `nodes` in walking order."""

    id: str
    attempt: int
    nodes: list[Node]
    steps: list[Step]
    path: KGPath

    @property
    def start(self) -> Node:
        return self.nodes[0]

    @property
    def answer(self) -> Node:
        return self.nodes[-1]


class PosedChain(_Frozen):
    """A chain whose answer is unique in the KG, with distractors checked to fail it."""

    chain: Chain
    distractors: list[Node]


class SynthQA(_Frozen):
    """A written question and thinking trace, with the chain it poses (for the checks)."""

    posed: PosedChain
    generated: GeneratedQA
