"""Path search on the CSR engine agrees with networkx, ranks hubs lower, and caps output."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kgsynth.config import PathsConfig
from kgsynth.kg import KnowledgeGraph
from kgsynth.paths.format import format_path, parse_path_line
from kgsynth.paths.search import cached_node_costs, node_costs, shortest_paths
from kgsynth.paths.select import PathFinder
from kgsynth.records import EntityLink, LinkedQA, QARecord


def make_kg(edges: list[tuple[str, str, str]], n: int | None = None) -> KnowledgeGraph:
    ids = sorted(
        {h for h, _, _ in edges} | {t for _, _, t in edges} | {f"n{i}" for i in range(n or 0)}
    )
    nodes = pl.DataFrame(
        {
            "id": ids,
            "name": [f"Name {i}" for i in ids],
            "type": ["thing"] * len(ids),
            "synonyms": [[] for _ in ids],
        },
        schema={
            "id": pl.String,
            "name": pl.String,
            "type": pl.String,
            "synonyms": pl.List(pl.String),
        },
    )
    e = pl.DataFrame(edges, schema=["head", "relation", "tail"], orient="row")
    return KnowledgeGraph.from_frames("test", nodes, e, {})


def nx_paths(kg: KnowledgeGraph, s: int, t: int, max_hops: int) -> set[tuple[str, ...]]:
    g = nx.Graph()
    g.add_nodes_from(kg.ids)
    g.add_edges_from((h, t2) for h, t2 in _edges(kg))
    try:
        paths = list(nx.all_shortest_paths(g, kg.ids[s], kg.ids[t]))
    except nx.NetworkXNoPath:
        return set()
    return {tuple(p) for p in paths if len(p) - 1 <= max_hops}


def _edges(kg: KnowledgeGraph):
    for u in range(kg.n_nodes):
        for j in range(kg.indptr[u], kg.indptr[u + 1]):
            yield kg.ids[u], kg.ids[int(kg.indices[j])]


def ours(kg: KnowledgeGraph, s: int, t: int, max_hops: int) -> tuple[set[tuple[str, ...]], int]:
    res = shortest_paths(kg, s, t, max_hops=max_hops, cap=10**9)
    got = [p.ids(kg) for p in res.paths]
    assert len(got) == len(set(got)), "a path was enumerated twice"
    scores = [p.score for p in res.paths]
    assert scores == sorted(scores)
    return set(got), res.count


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 12),
    edges=st.lists(
        st.tuples(st.integers(0, 11), st.integers(0, 2), st.integers(0, 11)), max_size=40
    ),
    max_hops=st.integers(1, 5),
    data=st.data(),
)
def test_all_shortest_paths_match_networkx(n, edges, max_hops, data):
    es = [(f"n{a % n}", f"r{r}", f"n{b % n}") for a, r, b in edges if a % n != b % n]
    kg = make_kg(es or [("n0", "r0", "n1")], n=n)
    s = data.draw(st.integers(0, kg.n_nodes - 1))
    t = data.draw(st.integers(0, kg.n_nodes - 1))
    if s == t:
        return
    expected = nx_paths(kg, s, t, max_hops)
    got, count = ours(kg, s, t, max_hops)
    assert got == expected
    assert count == len(expected)


def hub_kg() -> KnowledgeGraph:
    # a -> hub -> z and a -> quiet -> z; the hub has many other neighbours
    edges = [("a", "r", "hub"), ("hub", "r", "z"), ("a", "r", "quiet"), ("quiet", "r", "z")]
    edges += [("hub", "r", f"leaf{i}") for i in range(20)]
    return make_kg(edges)


def test_ranking_puts_hub_paths_last_and_costs_are_sorted():
    kg = hub_kg()
    ranked = shortest_paths(kg, kg.index_of("a"), kg.index_of("z")).paths
    assert [p.ids(kg)[1] for p in ranked] == ["quiet", "hub"]
    assert ranked[0].score == pytest.approx(math.log1p(2))
    assert [p.score for p in ranked] == sorted(p.score for p in ranked)


def test_count_is_exact_when_enumeration_is_capped():
    # complete bipartite layers: 30 * 30 = 900 shortest paths of length 3
    edges = [("s", "r", f"a{i}") for i in range(30)] + [("t", "r", f"b{j}") for j in range(30)]
    edges += [(f"a{i}", "r", f"b{j}") for i, j in itertools.product(range(30), range(30))]
    kg = make_kg(edges)
    s, t = kg.index_of("s"), kg.index_of("t")
    res = shortest_paths(kg, s, t, cap=5)
    assert res.count == 900 and res.length == 3 and len(res.paths) == 5
    assert shortest_paths(kg, s, t, max_hops=2).count == 0  # max_hops bounds the search
    # PathFinder: k per pair, never more than enum_cap, and the total counted regardless
    paths, n = PathFinder(kg, PathsConfig(k=4)).pair_paths(s, t)
    assert (len(paths), n) == (4, 900)
    paths, n = PathFinder(kg, PathsConfig(k=50, enum_cap=7)).pair_paths(s, t)
    assert (len(paths), n) == (7, 900)
    paths, n = PathFinder(kg, PathsConfig(k=50, enum_cap=7)).pair_paths(s, t, k=2)
    assert (len(paths), n) == (2, 900)
    assert PathFinder(kg, PathsConfig(max_hops=2)).pair_paths(s, t) == ([], 0)
    assert PathFinder(kg, PathsConfig()).pair_paths(s, s) == ([], 0)


def test_hub_penalty_setting():
    kg = hub_kg()
    assert PathsConfig().hub_penalty == 1.0
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(ValidationError):
            PathsConfig(hub_penalty=bad)
    # 1.0 is today's cost exactly; other penalties scale it
    assert np.array_equal(node_costs(kg), np.log1p(kg.degree.astype(np.float64)))
    assert np.array_equal(node_costs(kg, 2.5), 2.5 * np.log1p(kg.degree.astype(np.float64)))
    # the cache is keyed by (KG, penalty) and its arrays are shared, so read-only
    one = cached_node_costs(kg)
    assert cached_node_costs(kg, 1.0) is one and cached_node_costs(kg, 1) is one
    assert cached_node_costs(kg, 2.5) is not one
    assert np.array_equal(cached_node_costs(kg, 2.5), node_costs(kg, 2.5))
    assert cached_node_costs(make_kg([("a", "r", "b")]), 1.0) is not one
    assert not one.flags.writeable

    def best(penalty: float):
        s, t = kg.index_of("a"), kg.index_of("z")
        paths, n = PathFinder(kg, PathsConfig(k=1, hub_penalty=penalty)).pair_paths(s, t)
        assert n == 2
        return paths[0].hops[0].tail_id, paths[0].score

    assert best(1.0) == ("quiet", math.log1p(2))
    assert best(2.0) == ("quiet", 2.0 * math.log1p(2))
    # no penalty: both paths cost 0 and node order decides ("hub" < "quiet")
    assert best(0.0) == ("hub", 0.0)


def test_path_finder_keeps_top_k_per_pair_and_hops_keep_kg_direction():
    edges = [
        ("d1", "has_phenotype", "p1"),
        ("d1", "has_phenotype", "p2"),
        ("d2", "has_phenotype", "p1"),
        ("d2", "has_phenotype", "p2"),
        ("p2", "is_a", "p3"),
    ]
    kg = make_kg(edges)

    def link(i: str) -> EntityLink:
        name = kg.names[kg.index_of(i)]
        return EntityLink(
            kg_id=i, name=name, type="thing", mention=i, start=0, end=1, score=1.0, method="exact"
        )

    qa = QARecord(id="q1", source="generic", question="q", answer="a")
    item = LinkedQA(qa=qa, question_entities=[link("p1")], answer_entities=[link("p3")])
    out = PathFinder(kg, PathsConfig(k=1, max_paths=5))(item)
    assert out.n_paths_found == 2  # p1-d1-p2-p3 and p1-d2-p2-p3
    assert len(out.paths) == 1
    path = out.paths[0]
    assert (path.start_id, path.end_id) == ("p1", "p3")
    first = path.hops[0]
    assert first.head_id in {"d1", "d2"} and first.tail_id == "p1"  # walked tail -> head
    for hop in path.hops:
        assert kg.has_edge(hop.head_id, hop.relation, hop.tail_id)
    # the text form parses back to the same KG-oriented triples
    triples = parse_path_line(format_path(path))
    assert triples == [(h.head_name, h.relation, h.tail_name) for h in path.hops]
