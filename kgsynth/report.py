"""What a build did, stage by stage: counts, rejects by reason, timings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kgsynth.records import Reject

# stages a build may report, in order; a stage that did not run has no count
STAGES = (
    "input",
    "deduplicated",
    "linked",
    "with_path",
    "generated",
    "verified",
    "quality_passed",
    "exported",
)


@dataclass
class BuildReport:
    counts: dict[str, int] = field(default_factory=dict)  # stage -> rows that reached it
    rejects: list[Reject] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # task -> wall time
    kg: dict[str, str] = field(default_factory=dict)  # name, hash, release, nodes, edges
    linker: dict[str, str] = field(default_factory=dict)  # index cached or built, threshold
    generator: dict[str, str] = field(default_factory=dict)  # name, model, prompt_version
    llm_usage: dict[str, Any] = field(default_factory=dict)  # kgsynth.llm.usage report; {} offline
    dedup: dict[str, Any] = field(default_factory=dict)  # kgsynth.qa.dedup summary; {} if none
    run: dict[str, Any] = field(default_factory=dict)  # shards, cache hits, workers

    @property
    def exported(self) -> int:
        return self.counts.get("exported", self.counts.get("verified", 0))

    def rejected_by_reason(self) -> list[tuple[str, str, int]]:
        c = Counter((r.stage, r.reason) for r in self.rejects)
        return sorted(((s, r, n) for (s, r), n in c.items()), key=lambda x: (-x[2], x[0], x[1]))

    def summary(self) -> dict[str, Any]:
        """What every build.json holds (build, synth-kg, verify); each flow adds its own."""
        return {
            "counts": self.counts,
            "exported": self.exported,
            "rejected": len(self.rejects),
            "rejected_by_reason": [
                {"stage": s, "reason": r, "rows": n} for s, r, n in self.rejected_by_reason()
            ],
            "seconds": self.seconds,
            "kg": self.kg,
            "llm_usage": self.llm_usage,
        }

    def check_balance(self) -> None:
        """input = exported + rejected, or the build is wrong: nothing is lost silently."""
        n_in = self.counts.get("input", 0)
        if n_in != self.exported + len(self.rejects):
            raise AssertionError(
                f"row accounting broken: input {n_in} != exported {self.exported} "
                f"+ rejected {len(self.rejects)}"
            )


def kg_summary(kg: Any) -> dict[str, str]:
    """What the card and build.json say about the KG a run used."""
    return {
        "name": kg.name,
        "hash": kg.hash,
        "nodes": str(kg.n_nodes),
        "edges": str(kg.n_edges),
        "release": kg.meta.get("hpo_release", kg.meta.get("release", "")),
    }
