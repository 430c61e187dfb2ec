"""Shortest-path search on the KG's CSR arrays.

Bidirectional BFS finds the shortest distance L between two nodes; the layered DAG of all
shortest paths is then built with numpy (no per-edge Python loop), paths are counted by a
vectorised DP, and enumerated best-first by a hub-aware cost (summed log-degree of the
intermediate nodes), so the top k come out first however many paths exist.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from kgsynth.kg.graph import KnowledgeGraph


def gather_neighbours(kg: KnowledgeGraph, frontier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (source, neighbour) pairs of the CSR rows in `frontier`, vectorised."""
    starts = kg.indptr[frontier]
    lens = kg.indptr[frontier + 1] - starts
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    src = np.repeat(frontier, lens)
    offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    return src, kg.indices[np.repeat(starts, lens) + offs].astype(np.int64)


@dataclass
class ShortestPathDAG:
    """The shortest-path DAG between s and t, as node layers 0..L (layer 0 = [s])."""

    length: int
    layers: list[np.ndarray]
    count: int  # number of distinct shortest node paths


def _bfs_levels(
    kg: KnowledgeGraph, s: int, t: int, max_hops: int
) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """Bidirectional BFS. Returns depth arrays from s and t (-1 = unseen), L (-1 if no path
    within max_hops) and the depths a, b reached on each side."""
    ds = np.full(kg.n_nodes, -1, np.int32)
    dt = np.full(kg.n_nodes, -1, np.int32)
    ds[s] = 0
    dt[t] = 0
    if s == t:
        return ds, dt, 0, 0, 0
    fs, ft = np.array([s], np.int64), np.array([t], np.int64)
    a = b = 0
    while a + b < max_hops and len(fs) and len(ft):
        # expand the side with fewer CSR entries to read
        cost_s = int((kg.indptr[fs + 1] - kg.indptr[fs]).sum())
        cost_t = int((kg.indptr[ft + 1] - kg.indptr[ft]).sum())
        if cost_s <= cost_t:
            _, nb = gather_neighbours(kg, fs)
            fs = np.unique(nb[ds[nb] < 0])
            a += 1
            ds[fs] = a
            if (dt[fs] >= 0).any():
                # no path of length <= a-1+b existed, so every hit has dt == b
                return ds, dt, a + b, a, b
        else:
            _, nb = gather_neighbours(kg, ft)
            ft = np.unique(nb[dt[nb] < 0])
            b += 1
            dt[ft] = b
            if (ds[ft] >= 0).any():
                return ds, dt, a + b, a, b
    return ds, dt, -1, a, b


def shortest_path_dag(kg: KnowledgeGraph, s: int, t: int, max_hops: int) -> ShortestPathDAG | None:
    """The DAG of all shortest s-t paths of at most max_hops hops, or None."""
    ds, dt, length, a, b = _bfs_levels(kg, s, t, max_hops)
    if length < 0:
        return None
    if length == 0:
        return ShortestPathDAG(0, [np.array([s], np.int64)], 1)
    # Meeting layer m: both distances are known there (m <= a and L - m <= b).
    m = min(a, length)
    layers: list[np.ndarray] = [np.empty(0, np.int64)] * (length + 1)
    layers[m] = np.nonzero((ds == m) & (dt == length - m))[0].astype(np.int64)
    # prefix layers: walk back from the meeting layer along ds decreasing by one
    for j in range(m - 1, -1, -1):
        _, nb = gather_neighbours(kg, layers[j + 1])
        layers[j] = np.unique(nb[ds[nb] == j])
    # suffix layers: walk forward along dt decreasing by one
    for j in range(m + 1, length + 1):
        _, nb = gather_neighbours(kg, layers[j - 1])
        layers[j] = np.unique(nb[dt[nb] == length - j])
    return ShortestPathDAG(length, layers, _count_paths(kg, layers))


def _layer_edges(kg: KnowledgeGraph, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (u in a, v in b), as index pairs into a and b."""
    src, nb = gather_neighbours(kg, a)
    pos_b = np.searchsorted(b, nb)
    pos_b[pos_b >= len(b)] = 0
    keep = b[pos_b] == nb if len(b) else np.zeros(len(nb), bool)
    pos_a = np.searchsorted(a, src[keep])
    # a CSR row may list the same neighbour twice (parallel edges): one node path each
    pairs = np.unique(np.stack([pos_a, pos_b[keep]], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _count_paths(kg: KnowledgeGraph, layers: list[np.ndarray]) -> int:
    # object dtype keeps exact big integers: hub pairs can have huge counts
    cnt = np.ones(len(layers[0]), dtype=object)
    for j in range(1, len(layers)):
        ia, ib = _layer_edges(kg, layers[j - 1], layers[j])
        nxt = np.zeros(len(layers[j]), dtype=object)
        np.add.at(nxt, ib, cnt[ia])
        cnt = nxt
    return int(cnt.sum())


def node_costs(kg: KnowledgeGraph) -> np.ndarray:
    """Cost of passing through a node: log of its degree, so hubs rank lower."""
    return np.log1p(kg.degree.astype(np.float64))


def ranked_paths(
    kg: KnowledgeGraph, dag: ShortestPathDAG, costs: np.ndarray
) -> Iterator[tuple[float, list[int]]]:
    """Yield the DAG's node paths in increasing cost (ties broken by node index)."""
    layers = dag.layers
    n_layers = len(layers)
    if n_layers == 1:
        yield 0.0, [int(layers[0][0])]
        return
    succ: list[dict[int, list[int]]] = []
    for j in range(n_layers - 1):
        ia, ib = _layer_edges(kg, layers[j], layers[j + 1])
        m: dict[int, list[int]] = {}
        for u, v in zip(layers[j][ia].tolist(), layers[j + 1][ib].tolist(), strict=True):
            m.setdefault(u, []).append(v)
        succ.append(m)
    # exact heuristic: best remaining cost from each node to t (end node costs nothing)
    h: dict[int, float] = {int(layers[-1][0]): 0.0}
    for j in range(n_layers - 2, -1, -1):
        for u, vs in succ[j].items():
            h[u] = min(h[v] + (costs[v] if j + 1 < n_layers - 1 else 0.0) for v in vs)
    s = int(layers[0][0])
    heap: list[tuple[float, tuple[int, ...], float]] = [(h[s], (s,), 0.0)]
    while heap:
        f, path, g = heapq.heappop(heap)
        depth = len(path) - 1
        if depth == n_layers - 1:
            yield g, list(path)
            continue
        for v in succ[depth].get(path[-1], []):
            gv = g + (costs[v] if depth + 1 < n_layers - 1 else 0.0)
            heapq.heappush(heap, (gv + h[v], path + (v,), gv))
