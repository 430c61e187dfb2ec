"""Path stage: the paths a row keeps.

With per-option evidence (kgsynth.evidence, the build's default): gold's supports, the
discriminative ones first (`discriminative_paths`). Without it (MedReason's LLM pruning, or
rows that carry no evidence): for each (present question entity, answer entity) pair, the
best shortest paths (`PathFinder`).
"""

from __future__ import annotations

import numpy as np

from kgsynth.config import PathsConfig
from kgsynth.evidence.score import gold_option
from kgsynth.evidence.specificity import specificity
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.filters import PathFilter
from kgsynth.paths.search import cached_node_costs, shortest_paths
from kgsynth.records import EvidenceReport, FindingSupport, KGPath, LinkedQA, PathedQA


def shared_with_distractor(report: EvidenceReport, s: FindingSupport) -> bool:
    """Whether the finding behind gold's support `s` reaches another option just as well
    (by a path as short or shorter): then it does not tell gold from that option."""
    for o in report.options:
        if o.letter == report.gold:
            continue
        for r in o.supports:
            if r.finding_id == s.finding_id and len(r.path.hops) <= len(s.path.hops):
                return True
    return False


def discriminative_paths(
    report: EvidenceReport, max_paths: int, top_finding: str | None = None
) -> list[KGPath]:
    """Gold's supports as paths, at most max_paths: the most specific present finding of
    the question (`top_finding`) first when it supports gold, then supports that no
    distractor shares, then shared ones; each group by specificity, then fewer hops.
    Supports only ever start at present findings (the evidence holds no others)."""
    gold = gold_option(report)
    if gold is None:
        return []
    order = {s.finding_id: i for i, s in enumerate(gold.supports)}

    def key(s: FindingSupport) -> tuple:
        return (
            s.finding_id != top_finding,
            shared_with_distractor(report, s),
            -s.weight,
            len(s.path.hops),
            order[s.finding_id],
        )

    kept = sorted((s for s in gold.supports if s.assertion == "present"), key=key)
    return [s.path for s in kept[:max_paths]]


class PathFinder:
    """Holds the per-KG state (node costs) so each question only pays for its own search."""

    def __init__(self, kg: KnowledgeGraph, cfg: PathsConfig) -> None:
        self.kg = kg
        self.cfg = cfg
        self.costs: np.ndarray = cached_node_costs(kg, cfg.hub_penalty)
        low = kg.relations_below(cfg.min_edge_confidence)
        self.filters = PathFilter(exclude_relations=low) if low else None

    def pair_paths(self, s: int, t: int, k: int | None = None) -> tuple[list[KGPath], int]:
        """Top-k shortest paths s -> t (k from config, at most enum_cap) and the total number
        that exist. Each hop reports the first of its edges sorted by (relation, walked
        forward), so output is deterministic."""
        k = min(self.cfg.k if k is None else k, self.cfg.enum_cap)
        found = shortest_paths(
            self.kg,
            s,
            t,
            max_hops=self.cfg.max_hops,
            cap=k,
            filters=self.filters,
            costs=self.costs,
        )
        return [p.to_kgpath(self.kg) for p in found.paths], found.count

    def groups(self, item: LinkedQA, per_pair: int | None = None) -> tuple[list[list[KGPath]], int]:
        """Best paths per (present question entity, answer entity) pair, and the total
        counted. A denied, family, historical or hypothetical mention never starts a path."""
        kg = self.kg
        out: list[list[KGPath]] = []
        total = 0
        seen_pairs: set[tuple[int, int]] = set()
        for qe in item.question_entities:
            if qe.assertion != "present":
                continue
            s = kg.index_of(qe.kg_id)
            for ae in item.answer_entities:
                t = kg.index_of(ae.kg_id)
                if s is None or t is None or s == t or (s, t) in seen_pairs:
                    continue
                seen_pairs.add((s, t))
                paths, n = self.pair_paths(s, t, per_pair)
                if paths:
                    out.append(paths)
                total += n
        return out, total

    def finish(self, item: LinkedQA, groups: list[list[KGPath]], total: int) -> PathedQA:
        """Pool the kept paths of every pair; at most max_paths per question."""
        found = [p for g in groups for p in g]
        # shorter first, then less hub-heavy; stable on ids for determinism
        found.sort(key=lambda p: (len(p.hops), p.score, p.start_id, p.end_id))
        return PathedQA(linked=item, paths=found[: self.cfg.max_paths], n_paths_found=total)

    def top_finding(self, item: LinkedQA) -> str | None:
        """The most specific present question finding that links to the KG (ties: first)."""
        w = specificity(self.kg)
        best: tuple[float, str] | None = None
        for qe in item.question_entities:
            i = self.kg.index_of(qe.kg_id)
            if qe.assertion == "present" and i is not None and (best is None or w[i] > best[0]):
                best = (float(w[i]), qe.kg_id)
        return best[1] if best else None

    def from_evidence(self, item: PathedQA) -> PathedQA:
        """The row's paths from its evidence: gold's discriminative supports."""
        assert item.evidence is not None
        top = self.top_finding(item.linked)
        paths = discriminative_paths(item.evidence, self.cfg.max_paths, top)
        return item.model_copy(update={"paths": paths})

    def __call__(self, item: LinkedQA) -> PathedQA:
        return self.finish(item, *self.groups(item))
