"""Shortest-path search on the KG's CSR arrays: the one path engine.

A multi-source bidirectional BFS finds the shortest distance L between two node sets; the
layered DAG of all shortest paths is then built with numpy (no per-edge Python loop), paths
are counted by a vectorised DP, and enumerated best-first by a hub-aware cost (summed
hub_penalty * log1p(degree) of the intermediate nodes), so the top k come out first however
many paths exist. PathFilter masks (kgsynth.paths.filters) restrict nodes and relations.

`shortest_paths` is the entry point: the build's path stage (PathFinder, one source and one
target per pair), `kgsynth kg paths` and the claim check all call it; results are FoundPath
/ PathSet (kgsynth.paths.result). Simple and k-shortest paths live in kgsynth.paths.simple.
No networkx here: networkx is only the reference in the tests.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import NamedTuple

import numpy as np

from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.paths.filters import Masks, PathFilter, compile_filter
from kgsynth.paths.result import EMPTY, PathSet, found_path

NodeSet = int | Iterable[int] | np.ndarray

DEFAULT_HUB_PENALTY = 1.0  # PathsConfig.hub_penalty's default


def node_costs(kg: KnowledgeGraph, hub_penalty: float = DEFAULT_HUB_PENALTY) -> np.ndarray:
    """Cost of passing through a node: hub_penalty * log1p(degree), so hubs rank lower.
    A penalty of 1.0 is not multiplied in (the costs stay exactly log1p(degree)); 0.0 makes
    every shortest path cost the same, leaving node indices to order them."""
    costs = np.log1p(kg.degree.astype(np.float64))
    return costs if hub_penalty == 1.0 else costs * float(hub_penalty)


_COSTS: weakref.WeakKeyDictionary[KnowledgeGraph, dict[float, np.ndarray]] = (
    weakref.WeakKeyDictionary()
)


def cached_node_costs(kg: KnowledgeGraph, hub_penalty: float = DEFAULT_HUB_PENALTY) -> np.ndarray:
    """node_costs, computed once per (KG, penalty); the array is shared, so read-only."""
    per_kg = _COSTS.setdefault(kg, {})
    key = float(hub_penalty)
    if key not in per_kg:
        costs = node_costs(kg, key)
        costs.flags.writeable = False
        per_kg[key] = costs
    return per_kg[key]


def as_nodes(kg: KnowledgeGraph, x: NodeSet) -> np.ndarray:
    """Sorted unique node indices (int64) from an index, an iterable or an array."""
    if isinstance(x, int | np.integer):
        arr = np.array([x], np.int64)
    elif isinstance(x, np.ndarray):
        arr = np.unique(x.astype(np.int64, copy=False))
    else:
        arr = np.unique(np.fromiter((int(i) for i in x), np.int64))
    if len(arr) and (arr[0] < 0 or arr[-1] >= kg.n_nodes):
        raise ValueError(f"node index out of range 0..{kg.n_nodes - 1}")
    return arr


def endpoints(
    kg: KnowledgeGraph, masks: Masks, sources: NodeSet, targets: NodeSet
) -> tuple[np.ndarray, np.ndarray]:
    """Source and target index arrays, less excluded nodes."""
    src, dst = as_nodes(kg, sources), as_nodes(kg, targets)
    if masks.end_ok is not None:
        src, dst = src[masks.end_ok[src]], dst[masks.end_ok[dst]]
    return src, dst


def csr_entries(
    kg: KnowledgeGraph, frontier: np.ndarray, entry_ok: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(row node, CSR entry index) of every usable entry in the rows of `frontier`."""
    starts = kg.indptr[frontier]
    lens = kg.indptr[frontier + 1] - starts
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    src = np.repeat(frontier, lens)
    idx = np.arange(total, dtype=np.int64) + np.repeat(starts - (np.cumsum(lens) - lens), lens)
    if entry_ok is not None:
        keep = entry_ok[idx]
        return src[keep], idx[keep]
    return src, idx


def _step(
    kg: KnowledgeGraph,
    frontier: np.ndarray,
    entry_ok: np.ndarray | None,
    admit: np.ndarray | None,
    seen: np.ndarray,
) -> np.ndarray:
    """Unseen admissible neighbours of a frontier (sorted unique)."""
    _, idx = csr_entries(kg, frontier, entry_ok)
    nb = kg.indices[idx].astype(np.int64)
    nb = nb[seen[nb] < 0]
    if admit is not None:
        nb = nb[admit[nb]]
    return np.unique(nb)


class Allowed(NamedTuple):
    """What a search may walk: nodes allowed as intermediates and CSR entries (edges) allowed
    to be followed; None allows all."""

    node_ok: np.ndarray | None
    entry_ok: np.ndarray | None


@dataclass
class _Meet:
    ds: np.ndarray  # BFS depth from the sources (-1 unseen)
    dt: np.ndarray  # BFS depth from the targets
    length: int  # shortest distance, -1 if none within the hop limit
    a: int  # depth reached on the source side


def bfs_meet(
    kg: KnowledgeGraph,
    sources: np.ndarray,
    targets: np.ndarray,
    max_hops: int,
    allowed: Allowed,
) -> _Meet:
    """Multi-source bidirectional BFS between disjoint node sets.

    Only nodes allowed as intermediates are labelled, plus the far side's endpoints (which
    end a path and are never expanded past), so a meeting is always a valid filtered path.
    """
    node_ok, entry_ok = allowed
    n = kg.n_nodes
    ds = np.full(n, -1, np.int32)
    dt = np.full(n, -1, np.int32)
    ds[sources] = 0
    dt[targets] = 0
    fwd_ok = bwd_ok = None
    if node_ok is not None:
        fwd_ok, bwd_ok = node_ok.copy(), node_ok.copy()
        fwd_ok[targets] = True
        bwd_ok[sources] = True
    fs, ft = sources, targets
    a = b = 0
    while a + b < max_hops and len(fs) and len(ft):
        # expand the side with fewer CSR entries to read
        cost_s = int((kg.indptr[fs + 1] - kg.indptr[fs]).sum())
        cost_t = int((kg.indptr[ft + 1] - kg.indptr[ft]).sum())
        if cost_s <= cost_t:
            fs = _step(kg, fs, entry_ok, fwd_ok, ds)
            a += 1
            ds[fs] = a
            if (dt[fs] >= 0).any():  # first meeting: every hit has dt == b
                return _Meet(ds, dt, a + b, a)
        else:
            ft = _step(kg, ft, entry_ok, bwd_ok, dt)
            b += 1
            dt[ft] = b
            if (ds[ft] >= 0).any():
                return _Meet(ds, dt, a + b, a)
    return _Meet(ds, dt, -1, a)


@dataclass
class LayeredDAG:
    """Paths as layers of nodes: every walk layer 0 -> ... -> layer L along `pairs` is a
    result path (one per node sequence), provided it is simple when `simple` is False."""

    layers: list[np.ndarray]  # sorted node indices per position
    pairs: list[tuple[np.ndarray, np.ndarray]]  # per hop: (index in layer j, index in j+1)
    hop_masks: list[np.ndarray | None]  # entry mask per hop (for reporting relations)
    simple: bool  # True: no walk can revisit a node

    @property
    def length(self) -> int:
        return len(self.layers) - 1


def layer_pairs(
    kg: KnowledgeGraph, a: np.ndarray, b: np.ndarray, entry_ok: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Allowed edges from layer a to layer b as unique index pairs (parallel edges merge)."""
    src, idx = csr_entries(kg, a, entry_ok)
    nb = kg.indices[idx].astype(np.int64)
    if not len(b) or not len(nb):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pos_b = np.minimum(np.searchsorted(b, nb), len(b) - 1)
    keep = b[pos_b] == nb
    key = np.unique(np.searchsorted(a, src[keep]) * len(b) + pos_b[keep])
    return key // len(b), key % len(b)


def _dag(kg: KnowledgeGraph, layers: list[np.ndarray], hop_masks: list, simple: bool):
    pairs = [
        layer_pairs(kg, layers[j], layers[j + 1], hop_masks[j]) for j in range(len(layers) - 1)
    ]
    return LayeredDAG(layers, pairs, hop_masks, simple)


def _meet_dag(kg: KnowledgeGraph, meet: _Meet, entry_ok: np.ndarray | None) -> LayeredDAG:
    """Layers of all shortest paths, walked out from the meeting layer along the depths."""
    ds, dt, length = meet.ds, meet.dt, meet.length
    m = min(meet.a, length)
    layers: list[np.ndarray] = [np.empty(0, np.int64)] * (length + 1)
    layers[m] = np.nonzero((ds == m) & (dt == length - m))[0].astype(np.int64)
    for j in range(m - 1, -1, -1):
        _, idx = csr_entries(kg, layers[j + 1], entry_ok)
        nb = kg.indices[idx]
        layers[j] = np.unique(nb[ds[nb] == j]).astype(np.int64)
    for j in range(m + 1, length + 1):
        _, idx = csr_entries(kg, layers[j - 1], entry_ok)
        nb = kg.indices[idx]
        layers[j] = np.unique(nb[dt[nb] == length - j]).astype(np.int64)
    # shortest paths never revisit a node
    return _dag(kg, layers, [entry_ok] * length, simple=True)


def shortest_dags(
    kg: KnowledgeGraph,
    sources: np.ndarray,
    targets: np.ndarray,
    max_hops: int,
    allowed: Allowed,
) -> list[LayeredDAG]:
    """DAGs holding every path of globally minimal length from a source to a *different*
    target. A node in both sets must not pair with itself, so the pairs are split by source:
    (sources not in targets, targets) plus ({x}, targets - x) per shared x; these partition
    the pairs, and the DAGs at the minimal length are returned (their paths are disjoint)."""
    shared = np.intersect1d(sources, targets)
    queries = []
    rest = np.setdiff1d(sources, shared)
    if len(rest):
        queries.append((rest, targets))
    for x in shared.tolist():
        others = targets[targets != x]
        if len(others):
            queries.append((np.array([x], np.int64), others))
    best, meets = max_hops, []
    for s, t in queries:
        meet = bfs_meet(kg, s, t, best, allowed)
        if meet.length < 0:
            continue
        if meet.length < best:
            best, meets = meet.length, []
        meets.append(meet)
    return [_meet_dag(kg, mt, allowed.entry_ok) for mt in meets if mt.length == best]


def metapath_dag(
    kg: KnowledgeGraph, sources: np.ndarray, targets: np.ndarray, masks: Masks
) -> LayeredDAG | None:
    """Layers of every walk matching the metapath: a forward sweep from the sources, then a
    backward prune from the targets. Walks may revisit a node (d-p-d-p-d), so the DAG is
    flagged simple only when layers two or more apart share no node."""
    pos_nodes, pos_entries = masks.pos_nodes, masks.pos_entries
    assert pos_nodes is not None and pos_entries is not None
    hops = len(pos_entries)
    is_target = np.zeros(kg.n_nodes, bool)
    is_target[targets] = True
    fwd = [sources[pos_nodes[0][sources]]]
    for i in range(hops):
        admit = pos_nodes[i + 1] & is_target if i + 1 == hops else pos_nodes[i + 1]
        _, idx = csr_entries(kg, fwd[i], pos_entries[i])
        nb = kg.indices[idx]
        fwd.append(np.unique(nb[admit[nb]]).astype(np.int64))
        if not len(fwd[-1]):
            return None
    layers = [np.empty(0, np.int64)] * (hops + 1)
    layers[hops] = fwd[hops]
    for i in range(hops - 1, -1, -1):
        _, idx = csr_entries(kg, layers[i + 1], pos_entries[i])
        layers[i] = np.intersect1d(fwd[i], kg.indices[idx])
    simple = all(
        not len(np.intersect1d(layers[i], layers[j], assume_unique=True))
        for i in range(hops + 1)
        for j in range(i + 2, hops + 1)
    )
    return _dag(kg, layers, list(pos_entries), simple)


def count_walks(dag: LayeredDAG) -> int:
    """Exact number of layer-to-layer walks (= paths when dag.simple), by a DP over layers.
    float64 is exact below 2**53; bigger totals (hub pairs, long paths) redo in Python ints.
    Every DAG node lies on a full walk, so no partial count exceeds the total."""
    cnt = np.ones(len(dag.layers[0]))
    for (ia, ib), nxt in zip(dag.pairs, dag.layers[1:], strict=True):
        cnt = np.bincount(ib, weights=cnt[ia], minlength=len(nxt))
    total = float(cnt.sum())
    if total < 2.0**52:
        return int(round(total))
    big = np.ones(len(dag.layers[0]), dtype=object)
    for (ia, ib), nxt in zip(dag.pairs, dag.layers[1:], strict=True):
        acc = np.zeros(len(nxt), dtype=object)
        np.add.at(acc, ib, big[ia])
        big = acc
    return int(big.sum())


def _children(dag: LayeredDAG, keys: list[np.ndarray] | None) -> list[tuple[list, list]]:
    """Per hop: (ptr, children) CSR over layer-local indices, children sorted by (key, index)
    or by index when keys is None."""
    out = []
    for j, (ia, ib) in enumerate(dag.pairs):
        order = np.lexsort((ib, ia)) if keys is None else np.lexsort((ib, keys[j], ia))
        ptr = np.zeros(len(dag.layers[j]) + 1, np.int64)
        np.cumsum(np.bincount(ia, minlength=len(dag.layers[j])), out=ptr[1:])
        out.append((ptr.tolist(), ib[order].tolist()))
    return out


def ranked_dag_paths(dag: LayeredDAG, costs: np.ndarray) -> Iterator[tuple[float, tuple[int, ...]]]:
    """Yield (cost, node path) in increasing cost, ties by node indices (lexicographic).

    Best-first search with an exact heuristic (best remaining cost per node). Children are
    pre-sorted by f, and a popped entry pushes only its next sibling and its first child, so
    each yielded path costs O(L log heap) even below a hub with thousands of children.
    """
    layers, hops = dag.layers, dag.length
    step = [np.zeros(len(layers[0]))]
    step += [costs[layers[j]] for j in range(1, hops)] + [np.zeros(len(layers[hops]))]
    h = [np.zeros(0)] * hops + [np.zeros(len(layers[hops]))]
    keys: list[np.ndarray] = [np.zeros(0)] * hops
    for j in range(hops - 1, -1, -1):
        ia, ib = dag.pairs[j]
        keys[j] = h[j + 1][ib] + step[j + 1][ib]
        h[j] = np.full(len(layers[j]), np.inf)
        np.minimum.at(h[j], ia, keys[j])
    kids = _children(dag, keys)
    roots = np.lexsort((np.arange(len(layers[0])), h[0])).tolist()
    roots = [r for r in roots if np.isfinite(h[0][r])]
    hl = [x.tolist() for x in h]
    sl = [x.tolist() for x in step]
    ids = [x.tolist() for x in layers]

    def repeats(path: tuple[int, ...], depth: int, x: int) -> bool:
        if dag.simple:
            return False
        node = ids[depth][x]
        return any(ids[i][p] == node for i, p in enumerate(path[:depth]))

    def next_child(path: tuple[int, ...], depth: int, lo: int, hi: int, r: int) -> int:
        # rank of the first child at or after r that keeps the path simple, or -1
        ch = kids[depth - 1][1]
        while lo + r < hi and repeats(path, depth, ch[lo + r]):
            r += 1
        return r if lo + r < hi else -1

    if not roots:
        return
    # entries: (f, path as layer-local indices, cost of the path minus its last node, rank
    # among its siblings); f ties break on the path, i.e. on node indices
    heap: list[tuple[float, tuple[int, ...], float, int]] = [(hl[0][roots[0]], (roots[0],), 0.0, 0)]
    while heap:
        f, path, gp, r = heapq.heappop(heap)
        d = len(path) - 1
        if d == 0:  # next root
            if r + 1 < len(roots):
                x = roots[r + 1]
                heapq.heappush(heap, (hl[0][x], (x,), 0.0, r + 1))
        else:  # next sibling under the same parent
            ptr, ch = kids[d - 1]
            lo, hi = ptr[path[-2]], ptr[path[-2] + 1]
            nr = next_child(path, d, lo, hi, r + 1)
            if nr >= 0:
                x = ch[lo + nr]
                heapq.heappush(heap, (gp + sl[d][x] + hl[d][x], path[:-1] + (x,), gp, nr))
        g = gp + sl[d][path[-1]]
        if d == hops:
            yield g, tuple(ids[i][p] for i, p in enumerate(path))
            continue
        ptr, ch = kids[d]
        lo, hi = ptr[path[-1]], ptr[path[-1] + 1]
        nr = next_child(path, d + 1, lo, hi, 0)
        if nr >= 0:
            x = ch[lo + nr]
            heapq.heappush(heap, (g + sl[d + 1][x] + hl[d + 1][x], path + (x,), g, nr))


def lex_dag_paths(dag: LayeredDAG) -> Iterator[tuple[int, ...]]:
    """Yield the DAG's simple paths in lexicographic node order (depth-first)."""
    kids = _children(dag, None)
    ids = [x.tolist() for x in dag.layers]
    hops = dag.length
    for root in range(len(ids[0])):
        path = [ids[0][root]]
        local = [root]
        on_path = {path[0]}
        rank = [0]
        while rank:
            d = len(local) - 1
            ptr, ch = kids[d]
            lo, hi = ptr[local[-1]], ptr[local[-1] + 1]
            if lo + rank[-1] >= hi:
                rank.pop()
                on_path.discard(path.pop())
                local.pop()
                continue
            x = ch[lo + rank[-1]]
            rank[-1] += 1
            node = ids[d + 1][x]
            if node in on_path:
                continue
            if d + 1 == hops:
                yield (*path, node)
                continue
            path.append(node)
            local.append(x)
            on_path.add(node)
            rank.append(0)


def count_dag_paths(dag: LayeredDAG, limit: int) -> tuple[int, bool]:
    """(number of simple paths, exact?): a DP when the DAG is simple, else counting by
    enumeration, which stops at `limit` (counting simple paths is #P-hard in general)."""
    if dag.simple:
        return count_walks(dag), True
    n = 0
    for _ in lex_dag_paths(dag):
        n += 1
        if n >= limit:
            return n, False
    return n, True


def counted_metapath_dag(
    kg: KnowledgeGraph,
    src: np.ndarray,
    dst: np.ndarray,
    masks: Masks,
    max_hops: int,
    count_limit: int,
) -> tuple[LayeredDAG, int, bool] | None:
    """The metapath's DAG with its path count (and whether the count is exact), or None
    when the metapath is longer than max_hops or matches nothing."""
    assert masks.hops is not None
    if masks.hops > max_hops:
        return None
    dag = metapath_dag(kg, src, dst, masks)
    if dag is None:
        return None
    count, exact = count_dag_paths(dag, count_limit)
    return dag, count, exact


def shortest_paths(
    kg: KnowledgeGraph,
    sources: NodeSet,
    targets: NodeSet,
    *,
    max_hops: int = 3,
    cap: int = 1000,
    filters: PathFilter | None = None,
    costs: np.ndarray | None = None,
    hub_penalty: float = DEFAULT_HUB_PENALTY,
    count_limit: int = 100_000,
) -> PathSet:
    """All shortest paths from any source to any (different) target, filtered.

    The distance is the minimum over all (source, target) pairs with source != target
    (at most max_hops); every path of that length is a result, so no result passes through
    another source or target. At most `cap` paths are built, best-ranked first (hub-aware
    cost, then node indices); `count` is exact regardless. The cost of a node is
    `costs[node]`, by default cached_node_costs(kg, hub_penalty); a path's score sums it over
    the intermediate nodes in walking order.

    With a metapath the length is the metapath's: results are the simple paths matching it
    (all equally short). `count_limit` only matters there, when walks could revisit a node.
    """
    masks = compile_filter(kg, filters)
    src, dst = endpoints(kg, masks, sources, targets)
    if not len(src) or not len(dst):
        return EMPTY
    costs = cached_node_costs(kg, hub_penalty) if costs is None else costs
    if masks.hops is not None:
        counted = counted_metapath_dag(kg, src, dst, masks, max_hops, count_limit)
        if counted is None:
            return EMPTY
        dag, count, exact = counted
        dags = [dag] if count else []
    else:
        dags = shortest_dags(kg, src, dst, max_hops, Allowed(masks.node_ok, masks.entry_ok))
        count, exact = sum(count_walks(d) for d in dags), True
    if not dags:
        return EMPTY
    ranked = [ranked_dag_paths(d, costs) for d in dags]
    stream = ranked[0] if len(ranked) == 1 else heapq.merge(*ranked)
    hop_masks = dags[0].hop_masks
    paths = [found_path(kg, p, c, hop_masks) for c, p in islice(stream, cap)]
    return PathSet(paths, count, exact, length=dags[0].length)
