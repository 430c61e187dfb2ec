"""What a run did, stage by stage: counts, rejects by reason, timings and each stage's info.

Counts are keyed by Stage: `input` is the rows a run read (attempts, for KG-first
synthesis), every other stage's count is the rows it kept. A stage that did not run has no
count. input = exported + rejected must hold before anything is written (`check_balance`),
and so must the LLM failure limit (`check_llm_failures`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from kgsynth.errors import LLMFailureError
from kgsynth.records import Reject
from kgsynth.stages import Stage, StageInfo, StageResult


class WorkerInfo(BaseModel):
    host: str
    pid: int
    shards: int = 0
    busy_s: float = 0.0  # wall time of its shards: how well the workers were kept busy
    loads: dict[str, int] = {}  # resources loaded in that process (kgsynth.resources)


class RunInfo(BaseModel):
    """How a build's shards ran (kgsynth/runs.py)."""

    task_runner: str
    dask_address: str | None
    shard_size: int | None
    shards: int
    cached_shards: int
    workers: list[WorkerInfo]  # the processes that ran shards this time (cached ones did not)


@dataclass
class BuildReport:
    counts: dict[Stage, int] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # stage or task -> wall time
    info: dict[Stage, StageInfo] = field(default_factory=dict)  # what each stage reported
    kg: dict[str, str] = field(default_factory=dict)  # name, hash, release, nodes, edges
    llm_usage: dict[str, Any] = field(default_factory=dict)  # kgsynth.llm.usage report; {} offline
    run: RunInfo | None = None  # shards, cache hits, workers (sharded builds)

    @property
    def exported(self) -> int:
        return self.counts.get(Stage.EXPORT, self.counts.get(Stage.VERIFY, 0))

    @property
    def n_input(self) -> int:
        return self.counts.get(Stage.INPUT, 0)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the block's wall time to `seconds[name]` (a stage run in rounds adds up)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - t0
            self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 3)

    def record(self, stage: Stage, result: StageResult[Any]) -> None:
        """Fold one stage's result in: its count (rows kept; for INPUT, rows read), its
        rejects and its info (merged with what earlier batches of the stage reported)."""
        n = len(result.kept) + (len(result.rejects) if stage is Stage.INPUT else 0)
        self.counts[stage] = self.counts.get(stage, 0) + n
        self.rejects += result.rejects
        if result.info is not None:
            old = self.info.get(stage)
            self.info[stage] = result.info if old is None else old.merge(result.info)

    def absorb(self, other: BuildReport, timings: bool = True) -> None:
        """Add another report's counts, rejects, info (merged) and, when `timings`, its
        seconds; its LLM usage and run info replace this one's when it has them."""
        for stage, n in other.counts.items():
            self.counts[stage] = self.counts.get(stage, 0) + n
        self.rejects += other.rejects
        for stage, info in other.info.items():
            old = self.info.get(stage)
            self.info[stage] = info if old is None else old.merge(info)
        if timings:
            for key, sec in other.seconds.items():
                self.seconds[key] = round(self.seconds.get(key, 0.0) + sec, 3)
        self.llm_usage = other.llm_usage or self.llm_usage
        self.run = other.run or self.run

    def round_info(self, stage: Stage, info: StageInfo) -> None:
        """A KG-first round's info: an info that adds up (its class merges, like
        decontam's rates) is summed over rounds; any other keeps the latest round's."""
        old = self.info.get(stage)
        adds_up = old is not None and type(old).merge is not StageInfo.merge
        self.info[stage] = old.merge(info) if adds_up and old is not None else info

    def info_of(self, stage: Stage) -> dict[str, Any]:
        info = self.info.get(stage)
        return info.model_dump(mode="json") if info is not None else {}

    def rejected_by_reason(self) -> list[tuple[str, str, int]]:
        c = Counter((r.stage, r.reason) for r in self.rejects)
        return sorted(((s, r, n) for (s, r), n in c.items()), key=lambda x: (-x[2], x[0], x[1]))

    def summary(self) -> dict[str, Any]:
        """What every build.json holds (build, synth-kg, verify); each flow adds its own."""
        return {
            "counts": {s.value: n for s, n in sorted(self.counts.items(), key=_stage_order)},
            "exported": self.exported,
            "rejected": len(self.rejects),
            "rejected_by_reason": [
                {"stage": s, "reason": r, "rows": n} for s, r, n in self.rejected_by_reason()
            ],
            "seconds": self.seconds,
            "kg": self.kg,
            "stages": {s.value: self.info_of(s) for s in sorted(self.info, key=_order)},
            "llm_usage": self.llm_usage,
            "run": self.run.model_dump(mode="json") if self.run is not None else {},
        }

    def count_rows(self) -> list[tuple[Stage, int]]:
        """(stage, count) for the stages that ran, in pipeline order."""
        return sorted(self.counts.items(), key=_stage_order)

    def check_balance(self) -> None:
        """input = exported + rejected, or the run is wrong: nothing is lost silently."""
        if self.n_input != self.exported + len(self.rejects):
            raise AssertionError(
                f"row accounting broken: input {self.n_input} != exported {self.exported} "
                f"+ rejected {len(self.rejects)}"
            )

    def llm_failures(self) -> list[Reject]:
        """Rows that left for want of a usable LLM reply (see `is_llm_failure`)."""
        return [r for r in self.rejects if is_llm_failure(r)]

    def check_llm_failures(self, max_ratio: float, unit: str = "input rows") -> None:
        """Raise LLMFailureError, in one line, when more than `max_ratio` of the input left
        for want of a usable LLM reply: a run checks this before it writes, so an outage
        fails the run instead of publishing a thinned dataset."""
        failed = self.llm_failures()
        if not failed or not self.n_input:
            return
        ratio = len(failed) / self.n_input
        if ratio <= max_ratio:
            return
        top = Counter(f"{r.stage}/{r.reason}" for r in failed).most_common(3)
        reasons = ", ".join(f"{k}: {n}" for k, n in top)
        raise LLMFailureError(
            f"{len(failed)} of {self.n_input} {unit} ({ratio:.1%}) got no usable LLM reply "
            f"({reasons}), more than llm.max_failure_ratio = {max_ratio:g}; nothing was "
            "written. Check the endpoint and run again: replies received so far are cached "
            "and only the failed requests are sent again."
        )


def is_llm_failure(r: Reject) -> bool:
    """A row an LLM step gave no usable reply for: every reject at stage llm, and a thinking
    path still unparseable after its repair request."""
    return r.stage == Stage.LLM or (
        r.stage == Stage.GENERATE and r.reason == "unparseable_response"
    )


_ORDER = {s: i for i, s in enumerate(Stage)}


def _order(stage: Stage) -> int:
    return _ORDER[stage]


def _stage_order(item: tuple[Stage, int]) -> int:
    return _ORDER[item[0]]


def kg_summary(kg: Any) -> dict[str, str]:
    """What the card and build.json say about the KG a run used."""
    out = {
        "name": kg.name,
        "hash": kg.hash,
        "nodes": str(kg.n_nodes),
        "edges": str(kg.n_edges),
        "release": kg.meta.get("hpo_release", kg.meta.get("release", "")),
    }
    # an assembled KG (medkg) states where each part came from, under which licence, and
    # which of its edges are derived rather than stated
    for key in ("sources", "edges_by_source", "relation_confidence"):
        if key in kg.meta:
            out[key] = kg.meta[key]
    return out
