"""Path stage: for each (question entity, answer entity) pair, the best shortest paths."""

from __future__ import annotations

from itertools import islice

import numpy as np

from kgsynth.config import PathsConfig
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.search import node_costs, ranked_paths, shortest_path_dag
from kgsynth.records import Hop, KGPath, LinkedQA, PathedQA


def hop_between(kg: KnowledgeGraph, u: int, v: int) -> Hop:
    """The KG edge for one step u -> v, in the KG's own orientation.

    When several relations join u and v, the first in sorted order is used, so output is
    deterministic.
    """
    rel, u_is_head = sorted(kg.edges_between(u, v))[0]
    h, t = (u, v) if u_is_head else (v, u)
    return Hop(
        head_id=kg.ids[h],
        head_name=kg.names[h],
        relation=rel,
        tail_id=kg.ids[t],
        tail_name=kg.names[t],
    )


def to_kgpath(kg: KnowledgeGraph, nodes: list[int], score: float) -> KGPath:
    hops = [hop_between(kg, u, v) for u, v in zip(nodes, nodes[1:], strict=False)]
    return KGPath(start_id=kg.ids[nodes[0]], end_id=kg.ids[nodes[-1]], hops=hops, score=score)


class PathFinder:
    """Holds the per-KG state (node costs) so each question only pays for its own search."""

    def __init__(self, kg: KnowledgeGraph, cfg: PathsConfig) -> None:
        self.kg = kg
        self.cfg = cfg
        self.costs: np.ndarray = node_costs(kg)

    def pair_paths(self, s: int, t: int, k: int | None = None) -> tuple[list[KGPath], int]:
        """Top-k shortest paths s -> t (k from config) and the total number that exist."""
        dag = shortest_path_dag(self.kg, s, t, self.cfg.max_hops)
        if dag is None or dag.length == 0:
            return [], 0
        k = min(self.cfg.k if k is None else k, self.cfg.enum_cap)
        best = [
            to_kgpath(self.kg, p, c) for c, p in islice(ranked_paths(self.kg, dag, self.costs), k)
        ]
        return best, dag.count

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
