"""Node-set shortest paths, simple paths, Yen's k shortest and path filters, checked against
networkx on random small graphs and on the HPO KG.

networkx references (all over node indices):
- the filtered graph: a Graph with an edge wherever some allowed relation joins two nodes,
  restricted per (s, t) pair to allowed intermediates plus s and t (endpoints are exempt);
- node-set shortest paths: the union over pairs s != t of nx.all_shortest_paths (within
  max_hops), keeping only the globally shortest;
- metapaths: nx.all_simple_paths of exactly the metapath's length, checked position by
  position;
- relation choices: nx.all_simple_edge_paths on a MultiGraph keyed by (relation, head).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter

import networkx as nx
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgsynth.config import PathsConfig
from kgsynth.kg import KnowledgeGraph
from kgsynth.paths.filters import Metapath, PathFilter
from kgsynth.paths.result import FoundPath
from kgsynth.paths.search import node_costs, shortest_paths
from kgsynth.paths.select import PathFinder
from kgsynth.paths.simple import k_shortest_paths, simple_paths
from kgsynth.records import EntityLink, Hop, KGPath, LinkedQA, QARecord

TYPES = ("disease", "gene", "phenotype")
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build_kg(n: int, edges: list[tuple[int, int, int]], types: list[int]) -> KnowledgeGraph:
    ids = [f"n{i}" for i in range(n)]  # n <= 10: sorted ids keep index == number
    nodes = pl.DataFrame(
        {"id": ids, "name": [f"Node {i}" for i in ids], "type": [TYPES[t] for t in types]}
    )
    rows = [(f"n{a}", f"r{r}", f"n{b}") for a, r, b in edges if a != b] or [("n0", "r0", "n1")]
    e = pl.DataFrame(rows, schema=["head", "relation", "tail"], orient="row")
    return KnowledgeGraph.from_frames("rand", nodes, e, {})


@st.composite
def graphs(draw, max_n: int = 8, max_edges: int = 24) -> KnowledgeGraph:
    n = draw(st.integers(2, max_n))
    node = st.integers(0, n - 1)
    # dense enough that most draws have paths to compare (hypothesis favours short lists)
    m = draw(st.integers(n, max(n, max_edges)))
    edges = draw(st.lists(st.tuples(node, st.integers(0, 2), node), min_size=m, max_size=m))
    types = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    return build_kg(n, edges, types)


def subset(draw, items: list[str], min_size: int = 1, max_size: int | None = None):
    pick = st.lists(st.sampled_from(items), unique=True, min_size=min_size, max_size=max_size)
    return frozenset(draw(pick))


def draw_filter(draw, kg: KnowledgeGraph, metapath: bool) -> PathFilter:
    """A random filter; each part is present one time in three, so most draws still
    leave paths to compare."""
    types, rels = sorted(set(kg.types)), kg.relations

    def some() -> bool:
        return draw(st.integers(0, 2)) == 0

    mp = None
    if metapath:
        hops = draw(st.integers(1, 3))
        node_types = tuple(subset(draw, types) if some() else None for _ in range(hops + 1))
        relations = tuple(subset(draw, rels) if some() else None for _ in range(hops))
        mp = Metapath(node_types, relations)
    return PathFilter(
        node_types=subset(draw, types) if some() else None,
        relations=subset(draw, rels) if some() else None,
        exclude_nodes=subset(draw, kg.ids, 0, 2) if some() else frozenset(),
        exclude_relations=subset(draw, rels, 0, 1) if some() else frozenset(),
        max_degree=draw(st.integers(1, 6)) if some() else None,
        metapath=mp,
    )


# -- the networkx side ----------------------------------------------------------------------
def kg_edges(kg: KnowledgeGraph):
    """(head, relation, tail) index triples, one per KG edge."""
    e = kg.edge_frame()
    rels = kg.relations
    for h, r, t in zip(e["head"], e["rel"], e["tail"], strict=True):
        yield h, rels[r], t


def rel_ok(f: PathFilter, rel: str, allowed: frozenset[str] | None = None) -> bool:
    return (
        (f.relations is None or rel in f.relations)
        and rel not in f.exclude_relations
        and (allowed is None or rel in allowed)
    )


def end_ok(kg: KnowledgeGraph, f: PathFilter, v: int) -> bool:
    return kg.ids[v] not in f.exclude_nodes


def mid_ok(kg: KnowledgeGraph, f: PathFilter, v: int) -> bool:
    return (
        end_ok(kg, f, v)
        and (f.node_types is None or kg.types[v] in f.node_types)
        and (f.max_degree is None or kg.degree[v] <= f.max_degree)
    )


def nx_graph(kg: KnowledgeGraph, f: PathFilter, multi: bool = False) -> nx.Graph:
    g = nx.MultiGraph() if multi else nx.Graph()
    g.add_nodes_from(range(kg.n_nodes))
    for h, r, t in kg_edges(kg):
        if rel_ok(f, r):
            if multi:
                g.add_edge(h, t, key=(r, h))
            else:
                g.add_edge(h, t)
    return g


def pair_view(kg: KnowledgeGraph, g: nx.Graph, f: PathFilter, s: int, t: int) -> nx.Graph:
    return nx.subgraph_view(g, filter_node=lambda v: v in (s, t) or mid_ok(kg, f, v))


def pairs(kg: KnowledgeGraph, f: PathFilter, sources, targets):
    for s in sorted(set(sources)):
        for t in sorted(set(targets)):
            if s != t and end_ok(kg, f, s) and end_ok(kg, f, t):
                yield s, t


def ref_shortest(kg, f, sources, targets, max_hops) -> set[tuple[int, ...]]:
    g = nx_graph(kg, f)
    found = []
    for s, t in pairs(kg, f, sources, targets):
        try:
            ps = [tuple(p) for p in nx.all_shortest_paths(pair_view(kg, g, f, s, t), s, t)]
        except nx.NetworkXNoPath:
            continue
        if len(ps[0]) - 1 <= max_hops:
            found += ps
    best = min((len(p) for p in found), default=0)
    return {p for p in found if len(p) == best}


def ref_simple(kg, f, sources, targets, max_hops) -> set[tuple[int, ...]]:
    g = nx_graph(kg, f)
    out: set[tuple[int, ...]] = set()
    for s, t in pairs(kg, f, sources, targets):
        out |= {tuple(p) for p in nx.all_simple_paths(pair_view(kg, g, f, s, t), s, t, max_hops)}
    return out


def matches_metapath(kg: KnowledgeGraph, f: PathFilter, p: tuple[int, ...]) -> bool:
    mp = f.metapath
    if len(p) - 1 != mp.hops:
        return False
    if any(
        ty is not None and kg.types[v] not in ty for v, ty in zip(p, mp.node_types, strict=True)
    ):
        return False
    return all(
        any(rel_ok(f, r, mp.relations[i]) for r, _ in kg.edges_between(u, v))
        for i, (u, v) in enumerate(itertools.pairwise(p))
    )


def ref_metapath(kg, f, sources, targets) -> set[tuple[int, ...]]:
    # all simple paths of the metapath's length in the filtered graph, checked per position
    paths = ref_simple(kg, f, sources, targets, f.metapath.hops)
    return {p for p in paths if matches_metapath(kg, f, p)}


def lex(paths) -> list[tuple[int, ...]]:
    return sorted(paths, key=lambda p: (len(p), p))


def check_hops(kg: KnowledgeGraph, f: PathFilter, p: FoundPath) -> None:
    """Each hop lists exactly the allowed edges joining its nodes, KG-oriented."""
    rels = f.metapath.relations if f.metapath else [None] * p.length
    for i, (u, v) in enumerate(itertools.pairwise(p.nodes)):
        want = sorted((r, fwd) for r, fwd in kg.edges_between(u, v) if rel_ok(f, r, rels[i]))
        assert list(p.edges[i]) == want
    for hop, (u, v) in zip(p.hops(kg), itertools.pairwise(p.nodes), strict=True):
        assert kg.has_edge(hop.head_id, hop.relation, hop.tail_id)
        assert {hop.head_id, hop.tail_id} == {kg.ids[u], kg.ids[v]}


# -- properties -----------------------------------------------------------------------------
@FAST
@given(kg=graphs(), data=st.data())
def test_node_set_shortest_paths_match_networkx(kg, data):
    node = st.integers(0, kg.n_nodes - 1)
    sources = data.draw(st.lists(node, min_size=1, max_size=3))
    targets = data.draw(st.lists(node, min_size=1, max_size=3))
    max_hops = data.draw(st.integers(1, 5))
    f = draw_filter(data.draw, kg, metapath=False)
    cap = data.draw(st.integers(0, 6))
    expected = ref_shortest(kg, f, sources, targets, max_hops)
    full = shortest_paths(kg, sources, targets, max_hops=max_hops, cap=10**6, filters=f)
    got = [p.nodes for p in full.paths]
    assert len(got) == len(set(got)) and set(got) == expected
    assert full.count == len(expected) and full.exact
    assert full.length == (len(next(iter(expected))) - 1 if expected else None)
    assert [p.score for p in full.paths] == sorted(p.score for p in full.paths)
    for p in full.paths:
        check_hops(kg, f, p)
    # capped: the best-ranked prefix, the count still exact
    capped = shortest_paths(kg, sources, targets, max_hops=max_hops, cap=cap, filters=f)
    assert [p.nodes for p in capped.paths] == got[:cap]
    assert capped.count == len(expected)


@FAST
@given(kg=graphs(), data=st.data())
def test_metapath_paths_match_networkx(kg, data):
    node = st.integers(0, kg.n_nodes - 1)
    sources = data.draw(st.lists(node, min_size=1, max_size=4))
    targets = data.draw(st.lists(node, min_size=1, max_size=4))
    f = draw_filter(data.draw, kg, metapath=True)
    expected = ref_metapath(kg, f, sources, targets)
    hops = f.metapath.hops
    short = shortest_paths(kg, sources, targets, max_hops=3, cap=10**6, filters=f)
    assert {p.nodes for p in short.paths} == expected and len(short.paths) == len(expected)
    assert short.count == len(expected) and short.exact
    assert short.length == (hops if expected else None)
    simple = simple_paths(kg, sources, targets, max_hops=3, filters=f)
    assert [p.nodes for p in simple.paths] == lex(expected) and simple.count == len(expected)
    for p in short.paths:
        check_hops(kg, f, p)
    capped = shortest_paths(kg, sources, targets, max_hops=3, cap=1, filters=f)
    assert capped.count == len(expected) and len(capped.paths) == min(1, len(expected))
    if hops > 1:  # the metapath fixes the length: a smaller hop budget finds nothing
        assert shortest_paths(kg, sources, targets, max_hops=hops - 1, filters=f).count == 0


@FAST
@given(kg=graphs(), data=st.data())
def test_simple_paths_match_networkx(kg, data):
    node = st.integers(0, kg.n_nodes - 1)
    sources = data.draw(st.lists(node, min_size=1, max_size=2))
    targets = data.draw(st.lists(node, min_size=1, max_size=2))
    max_hops = data.draw(st.integers(1, 5))
    f = draw_filter(data.draw, kg, metapath=False) if data.draw(st.booleans()) else PathFilter()
    cap = data.draw(st.integers(0, 5))
    expected = ref_simple(kg, f, sources, targets, max_hops)
    got = simple_paths(kg, sources, targets, max_hops=max_hops, cap=cap, filters=f)
    assert [p.nodes for p in got.paths] == lex(expected)[:cap]  # shortest, then by index
    assert got.count == len(expected) and got.exact
    for p in got.paths:
        check_hops(kg, f, p)
    if len(expected) > 1:  # counting stops at the limit and says so
        lim = simple_paths(kg, sources, targets, max_hops=max_hops, filters=f, count_limit=1)
        assert lim.count == 1 and not lim.exact


@FAST
@given(kg=graphs(), data=st.data())
def test_relation_choices_match_networkx_multigraph(kg, data):
    s, t = data.draw(st.integers(0, kg.n_nodes - 1)), data.draw(st.integers(0, kg.n_nodes - 1))
    f = draw_filter(data.draw, kg, metapath=False) if data.draw(st.booleans()) else PathFilter()
    got = simple_paths(kg, s, t, max_hops=3, filters=f)
    expanded = {
        (p.nodes, tuple((h.relation, h.head_id) for h in kp.hops))
        for p in got.paths
        for kp in p.expand(kg)
    }
    expected = set()
    if s != t and end_ok(kg, f, s) and end_ok(kg, f, t):
        view = pair_view(kg, nx_graph(kg, f, multi=True), f, s, t)
        for ep in nx.all_simple_edge_paths(view, s, t, cutoff=3):
            nodes = (*node_walk(s, ep), t)
            expected.add((nodes, tuple((r, kg.ids[h]) for _, _, (r, h) in ep)))
    assert expanded == expected


def node_walk(s: int, ep) -> list[int]:
    """The node each edge of an undirected edge path is entered from."""
    cur, out = s, []
    for u, v, _ in ep:
        out.append(cur)
        cur = v if u == cur else u
    return out


@FAST
@given(kg=graphs(max_n=7, max_edges=16), data=st.data())
def test_k_shortest_paths_match_networkx(kg, data):
    s, t = data.draw(st.integers(0, kg.n_nodes - 1)), data.draw(st.integers(0, kg.n_nodes - 1))
    k = data.draw(st.integers(1, 8))
    f = draw_filter(data.draw, kg, metapath=False) if data.draw(st.booleans()) else PathFilter()
    got = k_shortest_paths(kg, s, t, k, filters=f)
    paths = [p.nodes for p in got.paths]
    if s == t or not (end_ok(kg, f, s) and end_ok(kg, f, t)):
        assert paths == []
        return
    view = pair_view(kg, nx_graph(kg, f), f, s, t)
    try:
        want = list(itertools.islice(nx.shortest_simple_paths(view, s, t), k))
    except nx.NetworkXNoPath:
        want = []
    assert Counter(len(p) for p in paths) == Counter(len(p) for p in want)
    for p in paths:  # valid simple paths of the filtered graph
        assert len(set(p)) == len(p) and nx.is_path(view, list(p))
    # ties are ordered by node indices: exactly the first k of all simple paths in that order
    everything = lex(tuple(p) for p in nx.all_simple_paths(view, s, t))
    assert paths == everything[:k]
    assert got.exact == (len(everything) < k)
    for p in got.paths:
        check_hops(kg, f, p)


@FAST
@given(kg=graphs(max_n=7, max_edges=16), data=st.data())
def test_k_shortest_paths_respect_a_hop_bound_and_metapath(kg, data):
    s, t = data.draw(st.integers(0, kg.n_nodes - 1)), data.draw(st.integers(0, kg.n_nodes - 1))
    k = data.draw(st.integers(1, 6))
    f = draw_filter(data.draw, kg, metapath=data.draw(st.booleans()))
    max_hops = data.draw(st.integers(1, 4))
    got = [p.nodes for p in k_shortest_paths(kg, s, t, k, max_hops=max_hops, filters=f).paths]
    every = simple_paths(kg, s, t, max_hops=max_hops, filters=f)
    assert got == [p.nodes for p in every.paths][:k]


# -- examples -------------------------------------------------------------------------------
def named_kg(edges: list[tuple[str, str, str]], types: dict[str, str] | None = None):
    ids = sorted({h for h, _, _ in edges} | {t for _, _, t in edges})
    nodes = pl.DataFrame(
        {"id": ids, "name": ids, "type": [(types or {}).get(i, "thing") for i in ids]}
    )
    e = pl.DataFrame(edges, schema=["head", "relation", "tail"], orient="row")
    return KnowledgeGraph.from_frames("named", nodes, e, {})


def test_overlapping_node_sets_pair_distinct_nodes_only():
    # x is both a source and a target: x -> x is not a path, a -> x and x -> b are
    kg = named_kg([("a", "r", "x"), ("x", "r", "b"), ("a", "r", "m"), ("m", "r", "b")])
    ix = kg.index_of
    got = shortest_paths(kg, [ix("a"), ix("x")], [ix("x"), ix("b")])
    assert {p.ids(kg) for p in got.paths} == {("a", "x"), ("x", "b")}
    assert got.count == 2 and got.length == 1


def test_capped_set_query_counts_exactly():
    edges = [("s", "r", f"a{i}") for i in range(30)] + [("t", "r", f"b{j}") for j in range(30)]
    edges += [(f"a{i}", "r", f"b{j}") for i, j in itertools.product(range(30), range(30))]
    edges += [("s2", "r", "a0")]
    kg = named_kg(edges)
    got = shortest_paths(kg, [kg.index_of("s"), kg.index_of("s2")], kg.index_of("t"), cap=5)
    assert got.count == 900 + 30 and got.length == 3 and len(got.paths) == 5


def test_parallel_relations_are_one_path_with_two_choices():
    kg = named_kg([("d", "has_phenotype", "p"), ("p", "phenotype_of", "d"), ("p", "is_a", "q")])
    got = shortest_paths(kg, kg.index_of("d"), kg.index_of("q"))
    assert got.count == 1
    (path,) = got.paths
    assert path.edges[0] == (("has_phenotype", True), ("phenotype_of", False))
    assert [kp.hops[0].relation for kp in path.expand(kg)] == ["has_phenotype", "phenotype_of"]
    assert path.to_kgpath(kg).hops[0].head_id == "d"
    no_first = PathFilter(exclude_relations={"has_phenotype"})
    only = shortest_paths(kg, kg.index_of("d"), kg.index_of("q"), filters=no_first).paths[0]
    assert only.edges[0] == (("phenotype_of", False),)
    assert only.to_kgpath(kg).hops[0].head_id == "p"  # walked against the KG direction


def test_max_degree_exempts_endpoints_and_exclusion_does_not():
    edges = [("s", "r", "hub"), ("hub", "r", "t"), ("s", "r", "a"), ("a", "r", "b")]
    edges += [("b", "r", "t")] + [("hub", "r", f"leaf{i}") for i in range(5)]
    edges += [("s", "r", f"x{i}") for i in range(9)]  # the source is a hub itself
    kg = named_kg(edges)
    s, t = kg.index_of("s"), kg.index_of("t")
    assert [p.ids(kg) for p in shortest_paths(kg, s, t).paths] == [("s", "hub", "t")]
    low = shortest_paths(kg, s, t, filters=PathFilter(max_degree=3)).paths
    assert [p.ids(kg) for p in low] == [("s", "a", "b", "t")]
    assert shortest_paths(kg, s, t, filters=PathFilter(exclude_nodes={"s"})).count == 0


def test_metapath_parse_and_validation():
    mp = Metapath.parse("disease -has_phenotype- phenotype -*- gene|disease")
    assert mp.hops == 2
    assert mp.node_types == (
        frozenset({"disease"}),
        frozenset({"phenotype"}),
        frozenset({"gene", "disease"}),
    )
    assert mp.relations == (frozenset({"has_phenotype"}), None)
    with pytest.raises(ValueError):
        Metapath.parse("disease has_phenotype phenotype")
    with pytest.raises(ValueError):
        Metapath((None,), ())
    kg = named_kg([("a", "r", "b")])
    with pytest.raises(ValueError, match="unknown relation"):
        shortest_paths(kg, 0, 1, filters=PathFilter(relations={"typo"}))
    with pytest.raises(ValueError, match="unknown node type"):
        shortest_paths(kg, 0, 1, filters=PathFilter(node_types={"typo"}))
    assert PathFilter(exclude_relations={"absent"}) == PathFilter(exclude_relations=["absent"])


def test_metapath_walks_that_revisit_a_node_are_not_paths():
    # d1 -p1- d2 -p2- d1 ... : the walk d1-p1-d1-p2-d2 matches the types but is not simple
    t = {"d1": "disease", "d2": "disease", "p1": "phenotype", "p2": "phenotype"}
    kg = named_kg(
        [("d1", "hp", "p1"), ("d1", "hp", "p2"), ("d2", "hp", "p1"), ("d2", "hp", "p2")], t
    )
    f = PathFilter(metapath=Metapath.parse("disease -hp- phenotype -hp- disease -hp- phenotype"))
    got = shortest_paths(kg, kg.index_of("d1"), kg.index_of("p2"), filters=f, max_hops=3)
    assert {p.ids(kg) for p in got.paths} == {("d1", "p1", "d2", "p2")}
    assert got.count == 1 and got.exact
    limited = shortest_paths(
        kg,
        kg.index_of("d1"),
        [kg.index_of("p1"), kg.index_of("p2")],
        filters=f,
        max_hops=3,
        count_limit=1,
    )
    assert limited.count == 1 and not limited.exact


def test_ties_rank_by_node_indices_and_hub_cost_first():
    edges = [("a", "r", f"m{i}") for i in range(4)] + [(f"m{i}", "r", "z") for i in range(4)]
    edges += [("m0", "r", f"leaf{i}") for i in range(6)]
    kg = named_kg(edges)
    s, t = kg.index_of("a"), kg.index_of("z")
    got = shortest_paths(kg, s, t)
    # m1..m3 tie (degree 2) and come in node order; the hub m0 comes last
    assert [p.ids(kg)[1] for p in got.paths] == ["m1", "m2", "m3", "m0"]
    assert got.count == 4 and got.length == 2
    costs = node_costs(kg)
    assert [p.score for p in got.paths] == [costs[p.nodes[1]] for p in got.paths]


# -- the HPO KG -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hpo_nx(hpo_kg) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(hpo_kg.n_nodes))
    e = hpo_kg.edge_frame()
    g.add_edges_from(zip(e["head"].to_list(), e["tail"].to_list(), strict=True))
    return g


def nx_on_shortest(g: nx.Graph, s: int, t: int, max_hops: int):
    """(distance, BFS depths from s, the nodes on some shortest s-t path in depth order),
    or None beyond max_hops."""
    ds = nx.single_source_shortest_path_length(g, s, cutoff=max_hops)
    if t not in ds:
        return None
    length = ds[t]
    dt = nx.single_source_shortest_path_length(g, t, cutoff=length)
    on = sorted((v for v in ds if v in dt and ds[v] + dt[v] == length), key=ds.__getitem__)
    return length, ds, on


def nx_count(g: nx.Graph, s: int, t: int, max_hops: int, found=None) -> tuple[int, int | None]:
    """(number of shortest s-t paths, distance), or (0, None) beyond max_hops: a DP over
    networkx's BFS depths, exact however many paths there are."""
    found = found or nx_on_shortest(g, s, t, max_hops)
    if found is None:
        return 0, None
    length, ds, on = found
    count = {s: 1}
    for v in on[1:]:
        count[v] = sum(count.get(u, 0) for u in g[v] if ds.get(u) == ds[v] - 1)
    return count[t], length


def ref_score(costs: np.ndarray, p: tuple[int, ...]) -> float:
    total = 0.0
    for v in p[1:-1]:  # summed from the start node on, as the build always has
        total += costs[v]
    return float(total)


def ref_kgpath(kg: KnowledgeGraph, p: tuple[int, ...], score: float) -> KGPath:
    hops = []
    for u, v in itertools.pairwise(p):
        rel, u_is_head = sorted(kg.edges_between(u, v))[0]  # first relation in sorted order
        h, t = (u, v) if u_is_head else (v, u)
        hops.append(
            Hop(
                head_id=kg.ids[h],
                head_name=kg.names[h],
                relation=rel,
                tail_id=kg.ids[t],
                tail_name=kg.names[t],
            )
        )
    return KGPath(start_id=kg.ids[p[0]], end_id=kg.ids[p[-1]], hops=hops, score=score)


def ref_pair_paths(kg, g, costs, s, t, found, k) -> tuple[list[KGPath], int, list[float]]:
    """PathFinder.pair_paths by brute force: every shortest path from networkx, ranked by
    (hub cost, node indices), the first k kept; plus every score in rank order. `found`:
    nx_on_shortest's answer for the pair."""
    if found is None:
        return [], 0, []
    # every shortest path lies on these nodes: the subgraph spares networkx a whole-KG BFS
    every = [tuple(p) for p in nx.all_shortest_paths(g.subgraph(found[2]), s, t)]
    ranked = sorted((ref_score(costs, p), p) for p in every)
    best = [ref_kgpath(kg, p, c) for c, p in ranked[:k]]
    return best, len(every), [c for c, _ in ranked]


def walk_pairs(kg: KnowledgeGraph, n: int, seed: int) -> list[tuple[int, int]]:
    """Pairs 1-3 random steps apart (uniform pairs are mostly far apart, with few ties)."""
    rng = random.Random(seed)
    live = np.nonzero(kg.degree > 0)[0].tolist()
    out = []
    while len(out) < n:
        s = u = rng.choice(live)
        for _ in range(rng.randint(1, 3)):
            u = int(kg.indices[rng.randrange(kg.indptr[u], kg.indptr[u + 1])])
        if u != s:
            out.append((s, u))
    return out


def test_hpo_path_finder_matches_a_brute_force_reference(hpo_kg, hpo_nx):
    """The build's path stage: same paths, order, relation per hop, bit-identical scores
    and counts as ranking networkx's full shortest-path lists, ties included."""
    kg = hpo_kg
    cfg = PathsConfig(max_hops=3, k=3, enum_cap=1000)
    finder = PathFinder(kg, cfg)
    costs = node_costs(kg)
    rng = random.Random(5)
    live = np.nonzero(kg.degree > 0)[0].tolist()
    hubs = np.argsort(-kg.degree)[:4].tolist()
    pairs = walk_pairs(kg, 60, seed=5) + [tuple(rng.sample(live, 2)) for _ in range(20)]
    pairs += [(h, rng.choice(live)) for h in hubs] + [(hubs[0], hubs[1]), (hubs[2], hubs[3])]
    compared = tied = tied_at_k = 0
    for s, t in pairs:
        got, n = finder.pair_paths(s, t)
        found = nx_on_shortest(hpo_nx, s, t, cfg.max_hops)
        want_n, length = nx_count(hpo_nx, s, t, cfg.max_hops, found)
        assert n == want_n
        if n > 20_000:  # too many to list: valid, shortest, sorted by score
            assert len(got) == cfg.k and all(len(p.hops) == length for p in got)
            assert [p.score for p in got] == sorted(p.score for p in got)
            continue
        want, want_n, scores = ref_pair_paths(kg, hpo_nx, costs, s, t, found, cfg.k)
        assert n == want_n
        assert [p.model_dump() for p in got] == [p.model_dump() for p in want]
        assert [p.score for p in got] == [p.score for p in want]  # ==, not approx
        # a per-pair k (the chain's candidates) overrides the config's
        assert finder.pair_paths(s, t, 1) == (want[:1], n)
        compared += 1
        tied += len(set(scores)) < len(scores)
        # a tie across the cut: node indices decide which path is kept
        tied_at_k += any(len(scores) > k and scores[k - 1] == scores[k] for k in (1, cfg.k))
    assert compared >= 70 and tied >= 10 and tied_at_k >= 5, (compared, tied, tied_at_k)
    # the whole stage on one question: all pairs pooled, n_paths_found the sum
    ends = [kg.ids[i] for i in (pairs[0][0], pairs[1][0], pairs[0][1], pairs[1][1])]

    def link(kg_id: str) -> EntityLink:
        i = kg.index_of(kg_id)
        return EntityLink(
            kg_id=kg_id,
            name=kg.names[i],
            type=kg.types[i],
            mention=kg.names[i],
            start=0,
            end=1,
            score=1.0,
            method="exact",
        )

    item = LinkedQA(
        qa=QARecord(id="q", source="generic", question="q", answer="a"),
        question_entities=[link(ends[0]), link(ends[1])],
        answer_entities=[link(ends[2]), link(ends[3])],
    )
    out = finder(item)
    pooled, total = [], 0
    for a, b in {(kg.index_of(x), kg.index_of(y)) for x in ends[:2] for y in ends[2:]}:
        if a != b:
            found = nx_on_shortest(hpo_nx, a, b, cfg.max_hops)
            best, n, _ = ref_pair_paths(kg, hpo_nx, costs, a, b, found, cfg.k)
            pooled, total = pooled + best, total + n
    pooled.sort(key=lambda p: (len(p.hops), p.score, p.start_id, p.end_id))
    assert out.n_paths_found == total
    assert [p.model_dump() for p in out.paths] == [p.model_dump() for p in pooled[:10]]


def test_hpo_shortest_paths_match_networkx_on_sampled_pairs(hpo_kg, hpo_nx):
    rng = random.Random(7)
    linked = np.nonzero(hpo_kg.degree > 0)[0].tolist()
    checked = 0
    while checked < 20:
        s, t = rng.sample(linked, 2)
        got = shortest_paths(hpo_kg, s, t, max_hops=4, cap=10**6)
        assert (got.count, got.length) == nx_count(hpo_nx, s, t, 4)
        if got.count > 5000:
            continue  # too many for networkx to list quickly
        if got.count == 0:
            assert not nx.has_path(hpo_nx, s, t) or nx.shortest_path_length(hpo_nx, s, t) > 4
        else:
            want = {tuple(p) for p in nx.all_shortest_paths(hpo_nx, s, t)}
            assert {p.nodes for p in got.paths} == want
        checked += 1


def test_hpo_disease_phenotype_disease_metapath(hpo_kg):
    rng = random.Random(3)
    diseases = [i for i, ty in enumerate(hpo_kg.types) if ty == "disease"]
    f = PathFilter(
        metapath=Metapath.parse("disease -has_phenotype- phenotype -has_phenotype- disease")
    )
    for _ in range(10):
        s, t = rng.sample(diseases, 2)
        got = shortest_paths(hpo_kg, s, t, filters=f, cap=10**6)

        def phenos(d: int) -> set[int]:
            row = slice(hpo_kg.indptr[d], hpo_kg.indptr[d + 1])
            rel = hpo_kg.edge_rel[row]
            nb = hpo_kg.indices[row][rel == hpo_kg.relations.index("has_phenotype")]
            return {int(v) for v in nb if hpo_kg.types[v] == "phenotype"}

        shared = phenos(s) & phenos(t)
        assert {p.nodes[1] for p in got.paths} == shared and got.count == len(shared)
        for p in got.paths:
            hops = p.to_kgpath(hpo_kg).hops
            assert [h.relation for h in hops] == ["has_phenotype"] * 2
            assert hops[0].head_id == hpo_kg.ids[s] and hops[1].head_id == hpo_kg.ids[t]
