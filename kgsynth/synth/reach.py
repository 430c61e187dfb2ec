"""What a chain's constraint reaches in the KG: vectorised set expansion over the CSR.

A chain is anchored at its start entity and constrained by its steps, each a relation and
a walking direction (forward: head -> tail as the KG stores it). The set it reaches is
grown one step at a time: every CSR entry of the current set whose (relation, direction)
matches the step leads to a member of the next set. Walks may revisit nodes and
intermediate node types are not constrained, so the set is a superset of what any
narrower reading of the question (typed intermediates, simple paths) reaches: an answer
unique here is unique under those readings too, and a node outside it fails them all.
"""

from __future__ import annotations

import weakref
from functools import cache

import numpy as np

from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.search import csr_entries
from kgsynth.records import KGPath
from kgsynth.synth.records import Step

_KEYS: weakref.WeakKeyDictionary[KnowledgeGraph, np.ndarray] = weakref.WeakKeyDictionary()


def entry_keys(kg: KnowledgeGraph) -> np.ndarray:
    """One int per CSR entry: relation id * 2 + walked forward (cached per KG)."""
    if kg not in _KEYS:
        _KEYS[kg] = kg.edge_rel.astype(np.int64) * 2 + kg.edge_fwd
    return _KEYS[kg]


def step_key(kg: KnowledgeGraph, step: Step) -> int:
    return _rel_ids(tuple(kg.relations))[step.relation] * 2 + int(step.forward)


def key_step(kg: KnowledgeGraph, key: int) -> Step:
    return Step(relation=kg.relations[key // 2], forward=bool(key % 2))


@cache
def _rel_ids(relations: tuple[str, ...]) -> dict[str, int]:
    return {r: i for i, r in enumerate(relations)}


def successor_sets(
    kg: KnowledgeGraph, frontier: np.ndarray, keys: np.ndarray | None = None
) -> dict[int, np.ndarray]:
    """For each step key (or only those in `keys`), the sorted set of nodes one such step
    from any node of `frontier`: one CSR gather, then a split by key."""
    ek = entry_keys(kg)
    _, idx = csr_entries(kg, frontier, None)
    k = ek[idx]
    if keys is not None:
        keep = np.isin(k, keys)
        idx, k = idx[keep], k[keep]
    order = np.argsort(k, kind="stable")
    idx, k = idx[order], k[order]
    uniq, first = np.unique(k, return_index=True)
    last = np.append(first[1:], len(k))
    return {
        int(key): np.unique(kg.indices[idx[a:b]]).astype(np.int64)
        for key, a, b in zip(uniq, first, last, strict=True)
    }


def reachable(kg: KnowledgeGraph, start: int, steps: list[Step]) -> np.ndarray:
    """Sorted node indices reached from `start` by the steps, in order."""
    frontier = np.array([start], np.int64)
    for step in steps:
        key = step_key(kg, step)
        frontier = successor_sets(kg, frontier, np.array([key])).get(key, np.empty(0, np.int64))
        if not len(frontier):
            break
    return frontier


def path_steps(path: KGPath) -> tuple[list[str], list[Step]]:
    """A KG path's node ids in walking order and its (relation, direction) steps."""
    nodes, steps = [path.start_id], []
    for hop in path.hops:
        forward = hop.head_id == nodes[-1]
        steps.append(Step(relation=hop.relation, forward=forward))
        nodes.append(hop.tail_id if forward else hop.head_id)
    return nodes, steps
