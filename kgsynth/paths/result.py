"""What path queries return: node paths plus the KG edges each hop may use.

Parallel edges: a path is a *node* path. When several relations join two consecutive nodes,
the hop carries every allowed one, sorted by (relation, walked_forward); `hops()` and
`to_kgpath()` report the first, as PathFinder does, and `expand()` yields one KGPath per
relation combination. Counts therefore count distinct node paths.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.records import Hop, KGPath

EdgeChoice = tuple[str, bool]  # (relation, walked head -> tail)


@dataclass(frozen=True, slots=True)
class FoundPath:
    nodes: tuple[int, ...]  # node indices in walking order
    edges: tuple[tuple[EdgeChoice, ...], ...]  # per hop: every allowed edge, sorted
    score: float  # summed log-degree of intermediate nodes; lower is less hub-heavy

    @property
    def length(self) -> int:
        return len(self.nodes) - 1

    def ids(self, kg: KnowledgeGraph) -> tuple[str, ...]:
        return tuple(kg.ids[i] for i in self.nodes)

    def hops(self, kg: KnowledgeGraph, choice: tuple[int, ...] | None = None) -> list[Hop]:
        """KG-oriented hops; `choice[i]` picks hop i's edge (default: the first)."""
        out = []
        for i, (u, v) in enumerate(itertools.pairwise(self.nodes)):
            rel, fwd = self.edges[i][0 if choice is None else choice[i]]
            h, t = (u, v) if fwd else (v, u)
            out.append(
                Hop(
                    head_id=kg.ids[h],
                    head_name=kg.names[h],
                    relation=rel,
                    tail_id=kg.ids[t],
                    tail_name=kg.names[t],
                )
            )
        return out

    def to_kgpath(self, kg: KnowledgeGraph, choice: tuple[int, ...] | None = None) -> KGPath:
        """The path as a pipeline KGPath (the record PathFinder emits)."""
        start, end = kg.ids[self.nodes[0]], kg.ids[self.nodes[-1]]
        return KGPath(start_id=start, end_id=end, hops=self.hops(kg, choice), score=self.score)

    def expand(self, kg: KnowledgeGraph) -> Iterator[KGPath]:
        """One KGPath per combination of parallel relations, in sorted order."""
        for choice in itertools.product(*(range(len(e)) for e in self.edges)):
            yield self.to_kgpath(kg, choice)


@dataclass(frozen=True)
class PathSet:
    """Paths found (at most the query's cap) and how many exist.

    `count` is exact when `exact` is true; otherwise counting stopped at a limit and it is a
    lower bound. `length` is the shortest distance for shortest-path queries.
    """

    paths: list[FoundPath]
    count: int
    exact: bool = True
    length: int | None = None


EMPTY = PathSet([], 0)


def hop_edges(
    kg: KnowledgeGraph, u: int, v: int, entry_ok: np.ndarray | None
) -> tuple[EdgeChoice, ...]:
    """Allowed edges joining u -> v, sorted; a CSR row is sorted by neighbour, so the
    entries for v are one searchsorted slice even on a hub row."""
    a, b = int(kg.indptr[u]), int(kg.indptr[u + 1])
    row = kg.indices[a:b]
    lo, hi = a + int(np.searchsorted(row, v, "left")), a + int(np.searchsorted(row, v, "right"))
    js = range(lo, hi)
    if entry_ok is not None:
        js = [j for j in js if entry_ok[j]]
    return tuple(sorted((kg.relations[int(kg.edge_rel[j])], bool(kg.edge_fwd[j])) for j in js))


def found_path(
    kg: KnowledgeGraph,
    nodes: tuple[int, ...],
    score: float,
    hop_masks: list[np.ndarray | None],
) -> FoundPath:
    edges = tuple(
        hop_edges(kg, u, v, hop_masks[i]) for i, (u, v) in enumerate(itertools.pairwise(nodes))
    )
    return FoundPath(nodes=tuple(int(x) for x in nodes), edges=edges, score=float(score))


def path_score(costs: np.ndarray, nodes: tuple[int, ...]) -> float:
    return float(sum(costs[i] for i in nodes[1:-1]))
