"""What a run did, stage by stage: counts, rejects by reason, timings and each stage's info.

Counts are keyed by Stage: `input` is the rows a run read (attempts, for KG-first
synthesis), every other stage's count is the rows it kept. A stage that did not run has no
count. input = exported + rejected must hold before anything is written (`check_balance`),
and so must the LLM failure limit (`check_llm_failures`). Both, and every summary, read the
rejects' counts by (stage, reason) (`Rejects.counts`): a streamed build's rejects are on
disk, not in memory.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel

from kgsynth.errors import LLMFailureError
from kgsynth.records import Reject
from kgsynth.stages import Stage, StageInfo, StageResult

if TYPE_CHECKING:
    from kgsynth.export.parts import RejectParts


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


class Rejects:
    """Every row a run rejected, in the order they are written: those held in memory (a
    shard's, a flow's own reading stages'), then those a streamed build spooled to Parquet
    parts as its shards finished (`spool`: read back stage by stage, kgsynth.export.parts)
    or, once the dataset is written, those in its rejects.parquet (`stored`). The counts by
    (stage, reason) cover all of them, so the summaries, the balance and the LLM failure
    limit read no file; iterating reads the spooled ones back, a Reject each (for a small
    run or a test: a large build's rejects are read with polars, `scan`)."""

    def __init__(self, held: Iterable[Reject] = ()) -> None:
        self.held: list[Reject] = []
        self.counts: Counter[tuple[str, str]] = Counter()
        self.spool: RejectParts | None = None
        self.stored: Path | None = None
        self += held

    def spool_into(self, parts: RejectParts) -> None:
        """From now on, each batch added is written to `parts` as one part, not held."""
        assert self.spool is None and self.stored is None
        self.spool = parts

    def __iadd__(self, other: Iterable[Reject]) -> Rejects:
        if isinstance(other, Rejects):
            if other.spool is not None or other.stored is not None:
                # another's spool comes after what this one holds (a flow takes its
                # shards' rejects once: kgsynth.runs.run_shards)
                assert self.spool is None and self.stored is None, "two spools of rejects"
                self.spool, self.stored = other.spool, other.stored
                self.held += other.held
                self.counts += other.counts
                return self
            other = other.held
        batch = list(other)
        self.counts.update((r.stage, r.reason) for r in batch)
        if self.spool is not None:
            self.spool.add(batch)
        else:
            self.held += batch
        return self

    def stored_at(self, path: Path) -> None:
        """Every reject is now in the Parquet file `path` (a written dataset's rejects): read
        them back from there (the spool is about to be removed)."""
        self.held, self.spool, self.stored = [], None, path

    def sort_held(self) -> None:
        """The held rejects stage by stage in pipeline order (a stable sort: rows in their
        order within a stage), as one run over every row reports them."""
        self.held.sort(key=lambda r: stage_rank(r.stage))

    def __len__(self) -> int:
        return self.counts.total()

    def __iter__(self) -> Iterator[Reject]:
        yield from self.held
        if self.spool is None and self.stored is None:
            return
        rest = self.spool.scan() if self.spool is not None else pl.scan_parquet(self.stored)
        for row in rest.collect().iter_rows(named=True):
            yield Reject(**row)

    def __getitem__(self, i: int) -> Reject:
        return self.held[i] if self.spool is None and self.stored is None else list(self)[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rejects | list):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Rejects({len(self)} rows, {len(self.held)} held)"

    # -- as a table (kgsynth.export.write): the Table members the hub's front matter reads

    @property
    def spooled(self) -> bool:
        return self.spool is not None or self.stored is not None

    def scan(self) -> pl.LazyFrame:
        """Every reject as the rejects table (REJECT_SCHEMA), lazily, in order."""
        from kgsynth.export.rows import rejects_frame

        held = rejects_frame(self.held).lazy()
        if self.spool is not None:
            return pl.concat([held, self.spool.scan()])
        if self.stored is not None:
            return pl.concat([held, pl.scan_parquet(self.stored)])
        return held

    @property
    def schema(self) -> pl.Schema:
        from kgsynth.export.rows import REJECT_SCHEMA

        return REJECT_SCHEMA

    @property
    def height(self) -> int:
        return len(self)

    def estimated_size(self) -> int:
        """The table's in-memory size, estimated from the parts' (the hub's `num_bytes`)."""
        from kgsynth.export.rows import rejects_frame

        spooled = self.spool.estimated_size() if self.spool is not None else 0
        return rejects_frame(self.held).estimated_size() + spooled


@dataclass
class BuildReport:
    counts: dict[Stage, int] = field(default_factory=dict)
    rejects: Rejects = field(default_factory=Rejects)  # a list given is held as Rejects
    seconds: dict[str, float] = field(default_factory=dict)  # stage or task -> wall time
    info: dict[Stage, StageInfo] = field(default_factory=dict)  # what each stage reported
    kg: dict[str, str] = field(default_factory=dict)  # name, hash, release, nodes, edges
    llm_usage: dict[str, Any] = field(default_factory=dict)  # kgsynth.llm.usage report; {} offline
    run: RunInfo | None = None  # shards, cache hits, workers (sharded builds)

    def __setattr__(self, name: str, value: Any) -> None:
        # `rejects` is always a Rejects: a flow or a caller may hand it a list
        if name == "rejects" and not isinstance(value, Rejects):
            value = Rejects(value)
        super().__setattr__(name, value)

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
        c = self.rejects.counts
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

    def llm_failures(self) -> Counter[tuple[str, str]]:
        """Rows that left for want of a usable LLM reply (see `is_llm_failure`), counted by
        (stage, reason)."""
        return Counter({k: n for k, n in self.rejects.counts.items() if is_llm_failure(*k)})

    def check_llm_failures(self, max_ratio: float, unit: str = "input rows") -> None:
        """Raise LLMFailureError, in one line, when more than `max_ratio` of the input left
        for want of a usable LLM reply: a run checks this before it writes, so an outage
        fails the run instead of publishing a thinned dataset."""
        failed = self.llm_failures()
        n_failed = failed.total()
        if not n_failed or not self.n_input:
            return
        ratio = n_failed / self.n_input
        if ratio <= max_ratio:
            return
        top = sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        reasons = ", ".join(f"{s}/{r}: {n}" for (s, r), n in top)
        raise LLMFailureError(
            f"{n_failed} of {self.n_input} {unit} ({ratio:.1%}) got no usable LLM reply "
            f"({reasons}), more than llm.max_failure_ratio = {max_ratio:g}; nothing was "
            "written. Check the endpoint and run again: replies received so far are cached "
            "and only the failed requests are sent again."
        )


def is_llm_failure(stage: str, reason: str) -> bool:
    """A row an LLM step gave no usable reply for (a reject's stage and reason): every
    reject at stage llm, and a thinking path still unparseable after its repair request."""
    return stage == Stage.LLM or (stage == Stage.GENERATE and reason == "unparseable_response")


_ORDER = {s: i for i, s in enumerate(Stage)}


def stage_rank(stage: str) -> int:
    """A stage's place in pipeline order; a stage outside `Stage` after all of them."""
    return _ORDER.get(stage, len(_ORDER))  # type: ignore[call-overload]


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
