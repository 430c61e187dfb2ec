"""Bounded-length simple paths and k shortest simple paths (Yen), for KG-first synthesis.

Both return paths in one deterministic order: by length, then by node indices
(lexicographic). Yen's algorithm keeps that order because each spur path it computes is the
lexicographically smallest shortest one (read off the BFS layers greedily) and candidates
are popped by (length, nodes). Filters (kgsynth.paths.filters) apply as in shortest_paths.
"""

from __future__ import annotations

import heapq
from itertools import islice

import numpy as np

from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.filters import Masks, PathFilter, compile_filter
from kgsynth.paths.result import EMPTY, PathSet, found_path, path_score
from kgsynth.paths.search import (
    DEFAULT_HUB_PENALTY,
    Allowed,
    NodeSet,
    cached_node_costs,
    counted_metapath_dag,
    csr_entries,
    endpoints,
    lex_dag_paths,
    shortest_dags,
)


def _dist_to(kg: KnowledgeGraph, targets: np.ndarray, depth: int, masks: Masks) -> np.ndarray:
    """Hops from each node to the nearest target through allowed intermediates (-1: more
    than `depth`). A vectorised BFS; it prunes the DFS to nodes that can still finish."""
    dist = np.full(kg.n_nodes, -1, np.int32)
    dist[targets] = 0
    frontier = targets
    for d in range(1, depth + 1):
        _, idx = csr_entries(kg, frontier, masks.entry_ok)
        nb = kg.indices[idx].astype(np.int64)
        nb = nb[dist[nb] < 0]
        if masks.node_ok is not None:
            nb = nb[masks.node_ok[nb]]  # only an allowed intermediate can lead on
        frontier = np.unique(nb)
        if not len(frontier):
            break
        dist[frontier] = d
    return dist


class _Walker:
    """Depth-first enumeration of simple paths of exactly `hops` hops, lexicographic."""

    def __init__(self, kg: KnowledgeGraph, masks: Masks, targets: np.ndarray, max_hops: int):
        self.kg, self.masks = kg, masks
        self.is_target = np.zeros(kg.n_nodes, bool)
        self.is_target[targets] = True
        self.dist = _dist_to(kg, targets, max_hops - 1, masks)
        self._nbrs: dict[int, np.ndarray] = {}

    def neighbours(self, u: int) -> np.ndarray:
        nb = self._nbrs.get(u)
        if nb is None:
            _, idx = csr_entries(self.kg, np.array([u], np.int64), self.masks.entry_ok)
            nb = np.unique(self.kg.indices[idx]).astype(np.int64)
            self._nbrs[u] = nb
        return nb

    def next_nodes(self, u: int, pos: int, hops: int) -> list[int]:
        """Candidates for position `pos` (1..hops) after u: targets at the end, else allowed
        intermediates close enough to a target to finish in time."""
        nb = self.neighbours(u)
        if pos == hops:
            return nb[self.is_target[nb]].tolist()
        d = self.dist[nb]
        keep = (d >= 0) & (d <= hops - pos)
        if self.masks.node_ok is not None:
            keep &= self.masks.node_ok[nb]
        return nb[keep].tolist()

    def paths(self, source: int, hops: int):
        path = [source]
        on_path = {source}
        stack = [self.next_nodes(source, 1, hops)]
        rank = [0]
        while stack:
            if rank[-1] >= len(stack[-1]):
                stack.pop()
                rank.pop()
                on_path.discard(path.pop())
                continue
            v = stack[-1][rank[-1]]
            rank[-1] += 1
            if v in on_path:
                continue
            if len(path) == hops:
                yield (*path, v)
                continue
            path.append(v)
            on_path.add(v)
            stack.append(self.next_nodes(v, len(path), hops))
            rank.append(0)


def simple_paths(
    kg: KnowledgeGraph,
    sources: NodeSet,
    targets: NodeSet,
    *,
    max_hops: int,
    cap: int = 1000,
    filters: PathFilter | None = None,
    count_limit: int = 100_000,
    hub_penalty: float = DEFAULT_HUB_PENALTY,
) -> PathSet:
    """All simple paths of 1..max_hops hops from a source to a different target.

    Paths come shortest first, then by node indices; at most `cap` are built. The search
    counts on past the cap up to `count_limit` paths: `count` is exact unless that limit
    stopped it (then `exact` is False and `count` a lower bound). Paths may pass through
    other sources or targets. With a metapath only its length is searched. Scores are the
    hub-aware costs of shortest_paths; they do not change the order.
    """
    masks = compile_filter(kg, filters)
    src, dst = endpoints(kg, masks, sources, targets)
    if not len(src) or not len(dst):
        return EMPTY
    costs = cached_node_costs(kg, hub_penalty)
    if masks.hops is not None:
        counted = counted_metapath_dag(kg, src, dst, masks, max_hops, count_limit)
        if counted is None:
            return EMPTY
        dag, count, exact = counted
        hop_masks = dag.hop_masks
        found = list(islice(lex_dag_paths(dag), cap))
    else:
        walker = _Walker(kg, masks, dst, max_hops)
        hop_masks = [masks.entry_ok] * max_hops
        found, count, exact = [], 0, True
        for hops in range(1, max_hops + 1):
            for s in src.tolist():
                for p in walker.paths(s, hops):
                    if len(found) < cap:
                        found.append(p)
                    count += 1
                    if count >= count_limit:
                        exact = False
                        break
                if not exact:
                    break
            if not exact:
                break
    paths = [found_path(kg, p, path_score(costs, p), hop_masks) for p in found]
    return PathSet(paths, count, exact)


def _lex_shortest(
    kg: KnowledgeGraph,
    starts: np.ndarray,
    target: int,
    max_hops: int,
    node_ok: np.ndarray | None,
    entry_ok: np.ndarray | None,
) -> tuple[int, ...] | None:
    """The lexicographically smallest among the shortest paths from any of `starts` to
    target: BFS layers, then the smallest node of each layer adjacent to the one before
    (every layer node lies on a shortest path, so the greedy walk cannot get stuck)."""
    if target in starts:
        return (target,)
    target_set = np.array([target], np.int64)
    dags = shortest_dags(kg, starts, target_set, max_hops, Allowed(node_ok, entry_ok))
    if not dags:
        return None
    dag = dags[0]
    path = [int(dag.layers[0][0])]
    for j in range(dag.length):
        ia, ib = dag.pairs[j]
        here = np.searchsorted(dag.layers[j], path[-1])
        path.append(int(dag.layers[j + 1][ib[ia == here].min()]))
    return tuple(path)


def _spur(
    kg: KnowledgeGraph,
    found: list[tuple[int, ...]],
    root: tuple[int, ...],
    target: int,
    budget: int,
    base_ok: np.ndarray,
    node_ok: np.ndarray | None,
    entry_ok: np.ndarray | None,
) -> tuple[int, ...] | None:
    """Yen's spur step: the lexicographically smallest shortest path from root[-1] to
    target (within `budget` hops) that avoids the root and does not leave root[-1] by an
    edge a found path with this root already takes. Returned without root[-1]."""
    i, spur = len(root) - 1, root[-1]
    banned = [p[i + 1] for p in found if p[: i + 1] == root]
    _, idx = csr_entries(kg, np.array([spur], np.int64), entry_ok)
    nb = np.unique(kg.indices[idx]).astype(np.int64)
    blocked = np.fromiter(root, np.int64)
    first_hop = nb[~np.isin(nb, blocked) & ~np.isin(nb, banned)]
    first_hop = first_hop[base_ok[first_hop] | (first_hop == target)]
    if not len(first_hop) or budget < 1:
        return None
    ok = base_ok.copy()
    ok[blocked] = False  # the root stays out of the spur path: results stay simple
    return _lex_shortest(kg, first_hop, target, budget - 1, ok, entry_ok)


def k_shortest_paths(
    kg: KnowledgeGraph,
    source: int,
    target: int,
    k: int,
    *,
    max_hops: int | None = None,
    filters: PathFilter | None = None,
    hub_penalty: float = DEFAULT_HUB_PENALTY,
) -> PathSet:
    """The k shortest simple paths source -> target (Yen's algorithm, unweighted), ordered
    by length then node indices. `count` is the number returned; `exact` says all paths
    within max_hops were found (fewer than k exist)."""
    masks = compile_filter(kg, filters)
    src, dst = endpoints(kg, masks, source, target)
    if not len(src) or not len(dst) or source == target or k <= 0:
        return EMPTY
    limit = kg.n_nodes if max_hops is None else max_hops
    if masks.hops is not None:  # fixed length: the first k simple paths in the same order
        got = simple_paths(
            kg,
            source,
            target,
            max_hops=limit,
            cap=k,
            filters=filters,
            count_limit=k,
            hub_penalty=hub_penalty,
        )
        return PathSet(got.paths, len(got.paths), len(got.paths) < k)
    node_ok, entry_ok = masks.node_ok, masks.entry_ok
    base_ok = np.ones(kg.n_nodes, bool) if node_ok is None else node_ok
    first = _lex_shortest(kg, src, target, limit, node_ok, entry_ok)
    if first is None:
        return EMPTY
    found: list[tuple[int, ...]] = [first]
    # candidates: (length, path, index of the node it deviates at from its parent path)
    heap: list[tuple[int, tuple[int, ...], int]] = []
    seen = {first}
    dev = 0
    while len(found) < k:
        last = found[-1]
        # Lawler: spurs before the deviation node repeat ones computed for the parent path
        for i in range(dev, len(last) - 1):
            root = last[: i + 1]
            tail = _spur(kg, found, root, target, limit - i, base_ok, node_ok, entry_ok)
            if tail is not None and (cand := root + tail) not in seen:
                seen.add(cand)
                heapq.heappush(heap, (len(cand), cand, i))
        if not heap:
            break
        _, nxt, dev = heapq.heappop(heap)
        found.append(nxt)
    costs = cached_node_costs(kg, hub_penalty)
    hop_masks = [entry_ok] * (max(len(p) for p in found) - 1)
    paths = [found_path(kg, p, path_score(costs, p), hop_masks) for p in found]
    return PathSet(paths, len(paths), len(paths) < k)
