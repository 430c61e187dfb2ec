"""Decontam stage: rows that overlap a benchmark item leave before any LLM call is spent.

In a build it runs first among the per-row stages, on the QA rows: it links them (the same
cached linker the link stage uses, which then takes the linked rows as they are), so the KG
method compares the linked answer entity and the present findings, and a flagged row never
reaches the LLM's entity extraction. In a KG-first synthesis it runs twice: the KG method on
each posed chain (its start finding and answer are known) before any question is written,
and the text methods once the question exists, before its checks and the LLM's judge. Each
benchmark file named in `[decontam] against` is indexed once (kgsynth.decontam.index,
cached); each row is checked by word n-grams, MinHash near duplicates and the KG
(kgsynth.decontam.match). A flagged row leaves as a reject at stage `decontam`, its reason
the method (`benchmark_ngram`, `benchmark_minhash`, `benchmark_kg`; verbatim text first),
its detail every benchmark, item, method and score that flagged it. The stage runs only when
benchmark files are named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from kgsynth import resources
from kgsynth.config import BuildConfig, LinkingConfig
from kgsynth.records import GeneratedQA, LinkedQA, PathedQA, QARecord, VerifiedQA
from kgsynth.stages import Stage, StageBase, StageContext, StageInfo, StageResult, reject, tracked

if TYPE_CHECKING:
    from kgsynth.decontam.index import BenchmarkIndex
    from kgsynth.synth.config import SynthConfig

T = TypeVar("T")
TEXT_METHODS = ("ngram", "minhash")  # what needs the written text (the KG method does not)


class BenchmarkRates(BaseModel):
    """One benchmark file: what was indexed and how many rows each method flagged."""

    file: str
    sha256: str
    items: int
    kg_items: int | None = None  # items with a linked answer and present finding (KG method)
    index: str = "built"  # "cached" or "built"
    flagged: dict[str, int] = {}  # method (and "any") -> rows flagged

    def add(self, other: BenchmarkRates) -> BenchmarkRates:
        keys = sorted(set(self.flagged) | set(other.flagged))
        return self.model_copy(
            update={
                "index": "built" if "built" in (self.index, other.index) else "cached",
                "flagged": {k: self.flagged.get(k, 0) + other.flagged.get(k, 0) for k in keys},
            }
        )


class DecontamInfo(StageInfo):
    checked: int  # rows checked
    flagged: int  # of them, rejected
    methods: list[str]
    settings: dict[str, Any] = {}
    benchmarks: list[BenchmarkRates] = []

    def merge(self, other: StageInfo) -> DecontamInfo:
        assert isinstance(other, DecontamInfo)
        theirs = {b.file: b for b in other.benchmarks}
        return self.model_copy(
            update={
                "checked": self.checked + other.checked,
                "flagged": self.flagged + other.flagged,
                # a KG-first run's two passes (KG before the text, text after) merge here
                "methods": [*self.methods, *(m for m in other.methods if m not in self.methods)],
                "benchmarks": [
                    b.add(theirs[b.file]) if b.file in theirs else b for b in self.benchmarks
                ],
            }
        )


def linked_of(item: Any) -> LinkedQA:
    """The linked row inside whatever record the stage was given."""
    from kgsynth.synth.records import PosedChain, SynthQA

    if isinstance(item, PosedChain):
        return posed_links(item)
    if isinstance(item, LinkedQA):
        return item
    if isinstance(item, PathedQA):
        return item.linked
    if isinstance(item, GeneratedQA):
        return item.pathed.linked
    if isinstance(item, SynthQA):
        return item.generated.pathed.linked
    if isinstance(item, VerifiedQA):
        return item.generated.pathed.linked
    raise TypeError(f"decontam stage: no linked row in a {type(item).__name__}")


def posed_links(posed: Any) -> LinkedQA:
    """A posed KG-first chain before its question exists: the start as the one present
    finding, the answer as the answer entity (what the KG method compares; no text)."""
    from kgsynth.synth.entities import linked_qa

    chain = posed.chain
    qa = QARecord(id=chain.id, source="kg", question=chain.start.name, answer=chain.answer.name)
    return linked_qa(chain, qa)


class DecontamStage(StageBase):
    stage = Stage.DECONTAM

    def __init__(
        self,
        cfg: BuildConfig | SynthConfig,
        methods: tuple[str, ...] | None = None,
        counts_rows: bool = True,
    ) -> None:
        # `methods`: a subset of the configured ones (a KG-first run checks the KG before
        # the text exists, the text after); `counts_rows`: False for a second pass over
        # rows a first pass already counted as checked
        self.settings = self.configured = cfg.decontam
        if methods is not None:
            keep = [m for m in self.settings.methods if m in methods]
            self.settings = self.settings.model_copy(update={"methods": keep})
        self.counts_rows = counts_rows
        self.cache_dir = cfg.cache_dir
        # a KG-first run has no [linking]: its checks link with the defaults, and so does this
        self.linking = cfg.linking if isinstance(cfg, BuildConfig) else LinkingConfig()

    def enabled(self, ctx: StageContext[Any]) -> bool:
        return self.settings.active and bool(self.settings.methods)

    def _linked(self, batch: list[Any], ctx: StageContext[Any]) -> tuple[list[Any], list[LinkedQA]]:
        """The rows to pass on and their links: QA rows are linked here (the link stage
        takes the LinkedQA as it is), anything else already holds its links."""
        if not batch or not isinstance(batch[0], QARecord):
            return batch, [linked_of(i) for i in batch]
        linker = resources.worker_linker(ctx.graph, self.linking, self.cache_dir)
        linked = [linker(qa) for qa in tracked(Stage.LINK, batch)]
        return linked, linked

    def indexes(self, ctx: StageContext[Any]) -> list[BenchmarkIndex]:
        """Every benchmark's index (built on first use in this process, then reused)."""
        from kgsynth.decontam.index import load_index

        # the configured methods, not this pass's subset: both passes share one index
        full = self.configured
        kg = ctx.graph if "kg" in full.methods else None
        return [
            load_index(path, full, self.cache_dir, kg, self.linking)
            for path in self.settings.against
        ]

    def run(self, batch: list[T], ctx: StageContext[Any]) -> StageResult[T]:
        from kgsynth.decontam.index import lsh_shape
        from kgsynth.decontam.match import Candidates, check, rates, verdicts

        s = self.settings
        indexes = self.indexes(ctx)
        files = [i.file for i in indexes]
        batch, linked = self._linked(batch, ctx)
        flags = check(Candidates.from_linked(linked), indexes, s)
        judged = verdicts(flags, files, s)
        out = StageResult[T](kept=[])
        for i, (item, lk) in enumerate(zip(batch, linked, strict=True)):
            v = judged.get(i)
            if v is None:
                out.kept.append(item)
            else:
                out.rejects.append(reject(lk.qa, self.stage, f"benchmark_{v.method}", v.detail))
        counts = rates(flags, files)
        bands, rows = lsh_shape(s)
        out.info = DecontamInfo(
            checked=len(batch) if self.counts_rows else 0,
            flagged=len(judged),
            methods=list(s.methods),
            settings={
                "ngram": s.ngram,
                "ngram_min_share": s.ngram_min_share,
                "shingle": s.shingle,
                "minhash_threshold": s.minhash_threshold,
                "num_perm": s.num_perm,
                "lsh": {"bands": bands, "rows": rows},
                "kg_min_shared": s.kg_min_shared,
                "boilerplate_fraction": s.boilerplate_fraction,
                "boilerplate_min_items": s.boilerplate_min_items,
            },
            benchmarks=[
                BenchmarkRates(
                    file=i.file,
                    sha256=i.content_hash,
                    items=i.n_items,
                    kg_items=i.facts.get("kg_items"),
                    index=i.source,
                    flagged=counts[i.file],
                )
                for i in indexes
            ],
        )
        return out
