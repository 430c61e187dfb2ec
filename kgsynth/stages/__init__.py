"""The pipeline's stages: one module each, one protocol for all.

A stage takes a batch of typed records and a StageContext (the KG, the config, this shard's
LLM runners) and returns a StageResult: the records it kept (the next stage's input), the
rows it rejected (each naming the stage and why) and a typed info record for the report.
Flows (flows/*.py) only wire stages together; the shard engine (kgsynth/runs.py) runs the
per-row ones over shards of the input and merges what they return.

`Stage` names every stage everywhere: a reject's `stage`, the report's counts (rows a stage
kept), the card's and the CLI's tables and the progress bars all use its values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel

from kgsynth.config import BuildConfig
from kgsynth.progress import progress
from kgsynth.records import QARecord, Reject

if TYPE_CHECKING:
    from kgsynth.kg.graph import KnowledgeGraph
    from kgsynth.llm.client import LLMClient
    from kgsynth.llm.structured import StepFailure, StructuredRunner
    from kgsynth.report import BuildReport

In = TypeVar("In")
Out = TypeVar("Out")
T = TypeVar("T")
C = TypeVar("C")


class Stage(StrEnum):
    """Every stage of every flow, in pipeline order (the order of the count tables)."""

    INPUT = "input"  # QA rows read (build), attempts made (synth-kg)
    DEDUP = "dedup"
    SAMPLE = "sample"  # KG-first synthesis: a chain walked from a rare entity
    UNIQUE = "unique"  # ... its answer unique in the KG, not a repeat
    DISTRACTORS = "distractors"  # ... with distractors that fail the chain
    # no benchmark item overlaps it: before any LLM call (a build's entity extraction, a
    # KG-first run's question writing)
    DECONTAM = "decontam"
    LINK = "link"
    EVIDENCE = "evidence"
    PATHS = "paths"
    GENERATE = "generate"
    VERIFY = "verify"
    QUALITY = "quality"
    # rows an LLM step (entity extraction .. quality filter) gave no usable reply for: they
    # leave from whichever stage asked, so this stage has rejects but never a count
    LLM = "llm"
    EXPORT = "export"

    @property
    def label(self) -> str:
        """What a row that this stage kept has (the count tables' row label)."""
        return _LABELS[self]


_LABELS = {
    Stage.INPUT: "read (QA rows or KG-first attempts)",
    Stage.DEDUP: "valid and not a duplicate",
    Stage.SAMPLE: "chain walked from a rare start entity",
    Stage.UNIQUE: "answer unique in the KG (and not a repeat)",
    Stage.DISTRACTORS: "with enough distractors that fail the chain",
    Stage.DECONTAM: "not found in a benchmark (decontamination)",
    Stage.LINK: "linked (question + answer entity)",
    Stage.EVIDENCE: "KG evidence singles out the gold option",
    Stage.PATHS: "with a KG path",
    Stage.GENERATE: "with a written thinking path",
    Stage.VERIFY: "passed the checks",
    Stage.QUALITY: "passed the LLM quality filter",
    Stage.LLM: "with a usable reply from every LLM step",
    Stage.EXPORT: "exported",
}


class StageInfo(BaseModel):
    """What a stage reports about a run besides its rows. Shards of one build each report
    one; `merge` folds a later shard's into an earlier one's (default: the first stands)."""

    def merge(self, other: StageInfo) -> StageInfo:
        return self


@dataclass
class StageResult(Generic[Out]):
    kept: list[Out]
    rejects: list[Reject] = field(default_factory=list)
    info: StageInfo | None = None


@dataclass
class StageContext(Generic[C]):
    """What the stages of a run may use: its config (a build's or a KG-first synthesis'),
    the KG, the LLM runners. Built once per shard for the per-row stages (the input stages
    run before the KG is loaded, and have none)."""

    cfg: C
    kg: KnowledgeGraph | None = None
    client: LLMClient | None = None  # this shard's LLM client (None offline)
    runner: StructuredRunner | None = None  # JSON blocks over `client` (the judge may use it)
    chain: StructuredRunner | None = None  # MedReason's chain steps: with an LLM writer only
    report: BuildReport | None = None  # the run's report (the export stage writes it)

    @property
    def graph(self) -> KnowledgeGraph:
        if self.kg is None:
            raise RuntimeError("this stage needs the KG, which the run has not loaded yet")
        return self.kg


BuildContext = StageContext[BuildConfig]  # what a build's stages get


class PipelineStage(Protocol[In, Out]):
    """One stage of a build: `run` over a batch; `enabled` says whether it runs at all."""

    stage: Stage

    def enabled(self, ctx: StageContext[Any]) -> bool: ...

    def run(self, batch: list[In], ctx: StageContext[Any]) -> StageResult[Out]: ...


class StageBase:
    """Stages run whenever their flow runs unless they say otherwise (`enabled`)."""

    stage: ClassVar[Stage]

    def enabled(self, ctx: StageContext[Any]) -> bool:
        return True


def reject(
    qa: QARecord | None, stage: Stage, reason: str, detail: str = "", **where: Any
) -> Reject:
    """The one way a stage turns a row into a Reject: its id and source position, the stage
    and a short reason code, with a human-readable detail."""
    meta = qa.meta if qa is not None else {}
    line = meta.get("line", "")
    return Reject(
        id=where.get("id", qa.id if qa is not None else None),
        stage=stage.value,
        reason=reason,
        detail=detail,
        source_file=where.get("source_file", meta.get("file")),
        line=int(line) if line.isdigit() else None,
    )


def llm_reject(qa: QARecord | None, failure: StepFailure, **where: Any) -> Reject:
    """A row that an LLM step gave no usable reply for leaves at stage `llm`, whichever
    stage asked, never as that stage's own verdict (a failed entity extraction is no
    `link/no_answer_entity`): the reason is the failure's code (http_503, timeout,
    invalid_json, ...), the detail names the step."""
    return reject(qa, Stage.LLM, failure.reason, failure.describe(), **where)


def tracked(stage: Stage, items: Sequence[T]) -> Iterator[T]:
    """Iterate while reporting progress to whoever listens (the CLI's progress bars)."""
    progress.start(stage.value, len(items))
    for i, item in enumerate(items, 1):
        yield item
        progress.advance(stage.value, i)
    progress.finish(stage.value)
