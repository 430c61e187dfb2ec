"""Path stage: for each (question entity, answer entity) pair, the best shortest paths."""

from __future__ import annotations

import numpy as np

from kgsynth.config import PathsConfig
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.search import cached_node_costs, shortest_paths
from kgsynth.records import KGPath, LinkedQA, PathedQA


class PathFinder:
    """Holds the per-KG state (node costs) so each question only pays for its own search."""

    def __init__(self, kg: KnowledgeGraph, cfg: PathsConfig) -> None:
        self.kg = kg
        self.cfg = cfg
        self.costs: np.ndarray = cached_node_costs(kg, cfg.hub_penalty)

    def pair_paths(self, s: int, t: int, k: int | None = None) -> tuple[list[KGPath], int]:
        """Top-k shortest paths s -> t (k from config, at most enum_cap) and the total number
        that exist. Each hop reports the first of its edges sorted by (relation, walked
        forward), so output is deterministic."""
        k = min(self.cfg.k if k is None else k, self.cfg.enum_cap)
        found = shortest_paths(self.kg, s, t, max_hops=self.cfg.max_hops, cap=k, costs=self.costs)
        return [p.to_kgpath(self.kg) for p in found.paths], found.count

    def groups(self, item: LinkedQA, per_pair: int | None = None) -> tuple[list[list[KGPath]], int]:
        """Best paths per (question entity, answer entity) pair, and the total counted."""
        kg = self.kg
        out: list[list[KGPath]] = []
        total = 0
        seen_pairs: set[tuple[int, int]] = set()
        for qe in item.question_entities:
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

    def __call__(self, item: LinkedQA) -> PathedQA:
        return self.finish(item, *self.groups(item))
