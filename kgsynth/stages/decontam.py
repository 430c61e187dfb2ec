"""Decontam stage: rows that overlap a benchmark item leave before any text is generated.

Runs after linking and evidence (the KG method compares the linked answer entity and the
present findings) on whatever those stages pass on, and passes on the same records: a
build's PathedQA (or LinkedQA), a KG-first synthesis' SynthQA. Each benchmark file named in
`[decontam] against` is indexed once (kgsynth.decontam.index, cached); each row is checked
by word n-grams, MinHash near duplicates and the KG (kgsynth.decontam.match). A flagged row
leaves as a reject at stage `decontam`, its reason the method (`benchmark_ngram`,
`benchmark_minhash`, `benchmark_kg`; verbatim text first), its detail every benchmark,
item, method and score that flagged it. The stage runs only when benchmark files are named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from kgsynth.config import BuildConfig, LinkingConfig
from kgsynth.records import GeneratedQA, LinkedQA, PathedQA, VerifiedQA
from kgsynth.stages import Stage, StageBase, StageContext, StageInfo, StageResult, reject

if TYPE_CHECKING:
    from kgsynth.decontam.index import BenchmarkIndex
    from kgsynth.synth.config import SynthConfig

T = TypeVar("T")


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
                "benchmarks": [
                    b.add(theirs[b.file]) if b.file in theirs else b for b in self.benchmarks
                ],
            }
        )


def linked_of(item: Any) -> LinkedQA:
    """The linked row inside whatever record the stage was given."""
    from kgsynth.synth.records import SynthQA

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


class DecontamStage(StageBase):
    stage = Stage.DECONTAM

    def __init__(self, cfg: BuildConfig | SynthConfig) -> None:
        self.settings = cfg.decontam
        self.cache_dir = cfg.cache_dir
        # a KG-first run has no [linking]: its checks link with the defaults, and so does this
        self.linking = cfg.linking if isinstance(cfg, BuildConfig) else LinkingConfig()

    def enabled(self, ctx: StageContext[Any]) -> bool:
        return self.settings.active

    def indexes(self, ctx: StageContext[Any]) -> list[BenchmarkIndex]:
        """Every benchmark's index (built on first use in this process, then reused)."""
        from kgsynth.decontam.index import load_index

        kg = ctx.graph if "kg" in self.settings.methods else None
        return [
            load_index(path, self.settings, self.cache_dir, kg, self.linking)
            for path in self.settings.against
        ]

    def run(self, batch: list[T], ctx: StageContext[Any]) -> StageResult[T]:
        from kgsynth.decontam.index import lsh_shape
        from kgsynth.decontam.match import Candidates, check, rates, verdicts

        s = self.settings
        indexes = self.indexes(ctx)
        files = [i.file for i in indexes]
        linked = [linked_of(i) for i in batch]
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
            checked=len(batch),
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
