"""The Neo4j backend (kgsynth.kg.neo4j_store) against a real Neo4j 5 server.

The server (tests/neo4j_server.py, fixture `neo4j_server`) is shared by the whole session and
never wiped, so every test pushes its KGs under its own name (KG names scope all data) and
compares counts per KG; whole-database counts are compared only before/after an operation
inside one test.

Path equality: Neo4j returns one path per *relationship* sequence, the in-memory engine one
per *node* sequence. The in-memory side is expanded over every relation joining consecutive
nodes (`kg.edges_between`), and both sides are compared as sets of (head, relation, tail)
hop tuples, with equal counts.
"""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from collections.abc import Iterator

import numpy as np
import polars as pl
import pytest
from neo4j import Driver, GraphDatabase
from neo4j_server import Neo4jConnection, free_port

from kgsynth.errors import ConfigError
from kgsynth.kg import KnowledgeGraph
from kgsynth.kg.neo4j_store import (
    ENV_PASSWORD,
    ENV_URI,
    Neo4jKG,
    Neo4jKGConflict,
    Neo4jSettings,
    Neo4jStoreError,
    PushReport,
    push_kg,
    redact_uri,
)
from kgsynth.paths.search import node_costs, shortest_paths
from kgsynth.records import KGPath

HopKey = tuple[str, str, str]
PathKey = tuple[HopKey, ...]

# Text that would do damage if it were ever spliced into Cypher.
INJ_ID = "x'}) DETACH DELETE n //"
INJ_NAME = 'O\'Brien "syndrome" `) MATCH (n) DETACH DELETE n //'
INJ_REL = "rel`]->() MATCH ()-[r]-() DELETE r //"
INJ_SYN = "'}) WITH 1 AS x MATCH (m) DETACH DELETE m RETURN '"


# -- helpers ----------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_kg(
    name: str,
    nodes: list[tuple[str, str, str]],
    edges: list[tuple[str, str, str]],
    synonyms: dict[str, list[str]] | None = None,
) -> KnowledgeGraph:
    syn = synonyms or {}
    frame = pl.DataFrame(
        {
            "id": [n[0] for n in nodes],
            "name": [n[1] for n in nodes],
            "type": [n[2] for n in nodes],
            "synonyms": [syn.get(n[0], []) for n in nodes],
        },
        schema={
            "id": pl.String,
            "name": pl.String,
            "type": pl.String,
            "synonyms": pl.List(pl.String),
        },
    )
    e = pl.DataFrame(edges, schema=["head", "relation", "tail"], orient="row")
    return KnowledgeGraph.from_frames(name, frame, e, {})


SMALL_NODES = [
    ("A", "alpha", "disease"),
    ("B", "beta", "gene"),
    ("C", "gamma", "phenotype"),
    ("D", "delta", "phenotype"),
    ("E", "epsilon (isolated)", "gene"),
    (INJ_ID, INJ_NAME, "disease"),
]
SMALL_EDGES = [
    ("A", "r1", "B"),  # two relations between one pair ...
    ("A", "r2", "B"),
    ("B", "r1", "A"),  # ... and a reverse edge
    ("B", "is a", "C"),
    ("A", INJ_REL, INJ_ID),
    (INJ_ID, "is a", "C"),
    ("C", "r1", "D"),
]
SMALL_SYNONYMS = {"A": ["a'1", INJ_SYN], INJ_ID: ["x \\ y", "ünïcödé"]}


def small_kg(name: str) -> KnowledgeGraph:
    return make_kg(name, SMALL_NODES, SMALL_EDGES, SMALL_SYNONYMS)


@pytest.fixture()
def driver(neo4j_server: Neo4jConnection) -> Iterator[Driver]:
    with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as d:
        yield d


def query(driver: Driver, cypher: str, **params: object) -> list[dict]:
    records, _, _ = driver.execute_query(
        cypher, params, database_=os.environ.get("KGSYNTH_NEO4J_DATABASE")
    )
    return [r.data() for r in records]


def db_totals(driver: Driver) -> tuple[int, int]:
    nodes = query(driver, "MATCH (n) RETURN count(n) AS n")[0]["n"]
    rels = query(driver, "MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
    return nodes, rels


def path_key(path: KGPath) -> PathKey:
    return tuple((h.head_id, h.relation, h.tail_id) for h in path.hops)


def memory_paths(kg: KnowledgeGraph, s: int, t: int, max_hops: int, costs: np.ndarray):
    """In-memory shortest paths, expanded to relationship level: (node-path count,
    relationship paths as a list, best cost)."""
    res = shortest_paths(kg, s, t, max_hops=max_hops, cap=10**9, costs=costs)
    if not res.count:
        return 0, [], None
    ids = kg.ids
    out: list[PathKey] = []
    best = None
    n_node_paths = 0
    for found in res.paths:
        nodes = found.nodes
        n_node_paths += 1
        best = found.score if best is None else best
        per_hop = [
            [
                (ids[u], rel, ids[v]) if fwd else (ids[v], rel, ids[u])
                for rel, fwd in kg.edges_between(u, v)
            ]
            for u, v in itertools.pairwise(nodes)
        ]
        out.extend(itertools.product(*per_hop))
    assert n_node_paths == res.count
    return res.count, out, best


def assert_same_paths(
    kg: KnowledgeGraph, store: Neo4jKG, s: int, t: int, max_hops: int, costs: np.ndarray
) -> int:
    _, mem, best = memory_paths(kg, s, t, max_hops, costs)
    count, paths = store.shortest_paths(kg.ids[s], kg.ids[t], max_hops, limit=10_000)
    got = [path_key(p) for p in paths]
    assert len(set(mem)) == len(mem), "in-memory expansion produced a duplicate path"
    assert len(set(got)) == len(got), "Neo4j returned a duplicate path"
    assert count == len(got) == len(mem)
    assert set(got) == set(mem)
    if paths:
        assert all(p.start_id == kg.ids[s] and p.end_id == kg.ids[t] for p in paths)
        # same hub-aware ranking: Neo4j's first path has the in-memory best cost
        assert paths[0].score == pytest.approx(best, rel=1e-9, abs=1e-12)
        scores = [p.score for p in paths]
        assert scores == sorted(scores)
    return count


# -- settings (no server needed) ---------------------------------------------------------------


def test_missing_password_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    with pytest.raises(ConfigError, match=ENV_PASSWORD):
        Neo4jSettings.from_env()
    with pytest.raises(ConfigError, match=ENV_PASSWORD):
        push_kg(small_kg(unique("nopw")), uri="bolt://127.0.0.1:1")
    with pytest.raises(ConfigError, match=ENV_PASSWORD):
        Neo4jKG("anything", uri="bolt://127.0.0.1:1")


def test_settings_defaults_overrides_and_secrecy() -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    s = Neo4jSettings.from_env(env={ENV_PASSWORD: secret})
    assert (s.uri, s.user, s.database) == ("bolt://localhost:7687", "neo4j", "neo4j")
    env = {
        ENV_PASSWORD: secret,
        ENV_URI: "neo4j://db.example:7687",
        "KGSYNTH_NEO4J_USER": "reader",
        "KGSYNTH_NEO4J_DATABASE": "kgs",
    }
    s = Neo4jSettings.from_env(env=env)
    assert (s.uri, s.user, s.database) == ("neo4j://db.example:7687", "reader", "kgs")
    s = Neo4jSettings.from_env(uri="bolt+s://other:7687", database="x", env=env)
    assert (s.uri, s.database) == ("bolt+s://other:7687", "x")
    for text in (repr(s), str(s), s.describe()):
        assert secret not in text
    with pytest.raises(ConfigError, match="must start with"):
        Neo4jSettings.from_env(uri="http://localhost:7474", env=env)
    assert redact_uri("bolt://neo4j:hunter2@host:7687") == "bolt://***@host:7687"
    with pytest.raises(ConfigError) as info:
        Neo4jSettings.from_env(uri="http://neo4j:hunter2@host", env=env)
    assert "hunter2" not in str(info.value)
    # the driver rejects user info in a URI and quotes the URI back: redacted here
    with pytest.raises(ConfigError) as info:
        Neo4jSettings.from_env(uri="bolt://neo4j:hunter2@127.0.0.1:1", env=env).connect()
    assert "hunter2" not in str(info.value)


# -- push -------------------------------------------------------------------------------------


def test_push_small_kg_counts_and_progress(neo4j_server: Neo4jConnection) -> None:
    kg = small_kg(unique("small"))
    calls: list[tuple[int, int]] = []
    report = push_kg(kg, batch_size=3, progress=lambda done, total: calls.append((done, total)))
    assert isinstance(report, PushReport)
    assert (report.kg, report.nodes, report.relationships) == (kg.name, 6, 7)
    assert report.seconds > 0
    total = kg.n_nodes + kg.n_edges
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) == 2 + 3  # 6 nodes and 7 edges in batches of 3
    with Neo4jKG(kg.name) as store:
        assert store.node_count() == 6
        assert store.relationship_count() == 7
        stats = store.stats()
        assert stats["types"] == {"disease": 2, "gene": 2, "phenotype": 2}
        assert stats["relations"] == {"is a": 2, "r1": 3, "r2": 1, INJ_REL: 1}
        info = store.info()
        assert info is not None and info["complete"] is True
        assert info["hash"] == kg.hash and info["relationships"] == 7


def test_push_twice_leaves_the_same_counts(neo4j_server: Neo4jConnection, driver: Driver) -> None:
    kg = small_kg(unique("twice"))
    first = push_kg(kg)
    totals = db_totals(driver)
    # replace: a real second push (the same content without it is a no-op, tested below)
    second = push_kg(kg, batch_size=2, replace=True)
    assert not second.unchanged
    assert (second.nodes, second.relationships) == (first.nodes, first.relationships)
    assert db_totals(driver) == totals
    with Neo4jKG(kg.name) as store:
        assert (store.node_count(), store.relationship_count()) == (6, 7)


def test_repush_replaces_a_changed_kg(neo4j_server: Neo4jConnection) -> None:
    name = unique("changed")
    push_kg(small_kg(name))
    nodes = [n for n in SMALL_NODES if n[0] != "D"] + [("F", "phi", "gene")]
    edges = [e for e in SMALL_EDGES if "D" not in (e[0], e[2])] + [("F", "r3", "E")]
    v2 = make_kg(name, nodes, edges)
    report = push_kg(v2, replace=True)  # another KG under a taken name: refused without it
    assert (report.nodes, report.relationships) == (6, 7)
    with Neo4jKG(name) as store:
        stats = store.stats()
        assert stats["relations"] == {"is a": 2, "r1": 2, "r2": 1, "r3": 1, INJ_REL: 1}
        assert store.shortest_paths("A", "D", 3) == (0, [])  # D is gone
        count, paths = store.shortest_paths("E", "F", 1)
        assert count == 1 and path_key(paths[0]) == (("F", "r3", "E"),)


def test_constraint_and_name_index_exist(neo4j_server: Neo4jConnection, driver: Driver) -> None:
    push_kg(small_kg(unique("schema")))
    constraints = query(driver, "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties RETURN *")
    assert {"type": "UNIQUENESS", "labelsOrTypes": ["Entity"], "properties": ["kg", "id"]} in (
        constraints
    )
    indexes = query(driver, "SHOW INDEXES YIELD type, labelsOrTypes, properties, state RETURN *")
    name_index = {"type": "RANGE", "labelsOrTypes": ["Entity"], "properties": ["name"]}
    assert any(
        {k: i[k] for k in name_index} == name_index and i["state"] == "ONLINE" for i in indexes
    )


def test_injection_text_round_trips_and_deletes_nothing(
    neo4j_server: Neo4jConnection, driver: Driver
) -> None:
    sentinel = make_kg(
        unique("sentinel"), [("S1", "s1", "gene"), ("S2", "s2", "gene")], [("S1", "r", "S2")]
    )
    push_kg(sentinel)
    before = db_totals(driver)
    name = unique("kg'}) MATCH (n) DETACH DELETE n //")
    kg = small_kg(name)
    push_kg(kg)
    after = db_totals(driver)
    assert after == (before[0] + 6 + 1, before[1] + 7)  # 6 entities + 1 KGInfo, 7 edges
    with Neo4jKG(sentinel.name) as store:
        assert (store.node_count(), store.relationship_count()) == (2, 1)

    rows = query(
        driver,
        "MATCH (n:Entity {kg: $kg}) RETURN n.id AS id, n.name AS name, n.type AS type, "
        "n.synonyms AS synonyms ORDER BY id",
        kg=name,
    )
    expected = [
        {"id": i, "name": nm, "type": t, "synonyms": SMALL_SYNONYMS.get(i, [])}
        for i, nm, t in sorted(SMALL_NODES)
    ]
    assert rows == expected
    rels = query(
        driver,
        "MATCH (a:Entity {kg: $kg})-[r:REL]->(b) RETURN a.id AS h, r.relation AS r, b.id AS t",
        kg=name,
    )
    assert sorted((r["h"], r["r"], r["t"]) for r in rels) == sorted(SMALL_EDGES)

    with Neo4jKG(name) as store:
        count, paths = store.shortest_paths(INJ_ID, "C", 1)
        assert count == 1
        hop = paths[0].hops[0]
        assert (hop.head_id, hop.head_name, hop.relation) == (INJ_ID, INJ_NAME, "is a")
        assert store.shortest_paths("A", INJ_ID, 1)[1][0].hops[0].relation == INJ_REL
        # injection-looking ids that are no nodes: nothing found, nothing deleted
        assert store.shortest_paths(INJ_SYN, "' OR 1=1 //", 3) == (0, [])
        assert store.shortest_paths("A", "x'}) DETACH DELETE n RETURN 1 //", 3) == (0, [])
    assert db_totals(driver) == after


# -- paths ------------------------------------------------------------------------------------


def test_small_kg_paths_match_in_memory(neo4j_server: Neo4jConnection) -> None:
    kg = small_kg(unique("paths"))
    push_kg(kg)
    costs = node_costs(kg)
    counts = {}
    with Neo4jKG(kg.name) as store:
        for s, t in itertools.permutations(range(kg.n_nodes), 2):
            counts[kg.ids[s], kg.ids[t]] = assert_same_paths(kg, store, s, t, 3, costs)
        assert store.shortest_paths("A", "A", 3) == (0, [])
        # A-C: A-B-C over three parallel/reverse A-B edges plus A-x-C
        assert counts["A", "C"] == 4 and counts["A", "D"] == 4
        assert counts["A", "E"] == 0 and counts["C", "E"] == 0
        _, paths = store.shortest_paths("A", "B", 1)
        hops = {
            (h.head_id, h.head_name, h.relation, h.tail_id, h.tail_name)
            for p in paths
            for h in p.hops
        }
        assert hops == {
            ("A", "alpha", "r1", "B", "beta"),
            ("A", "alpha", "r2", "B", "beta"),
            ("B", "beta", "r1", "A", "alpha"),  # walked A -> B, kept in KG orientation
        }
        assert store.shortest_paths("A", "D", 2) == (0, [])  # distance 3 > bound


def test_path_query_arguments(neo4j_server: Neo4jConnection) -> None:
    kg = small_kg(unique("args"))
    push_kg(kg)
    with Neo4jKG(kg.name) as store:
        for bad in (0, 11, -1, True, "3", 2.5, "3]-() DETACH DELETE a //"):
            with pytest.raises(ConfigError, match="max_hops"):
                store.shortest_paths("A", "C", bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="limit"):
            store.shortest_paths("A", "C", 3, limit=-1)
        # numpy ints (e.g. from a config array) are accepted as hop bounds
        count, paths = store.shortest_paths("A", "C", np.int64(3), limit=1)  # type: ignore[arg-type]
        assert count == 4 and len(paths) == 1
        assert store.shortest_paths("A", "C", 3, limit=0) == (4, [])
        count, paths = store.shortest_paths("A", "C", 10, count_limit=2)
        assert count == 2 and len(paths) == 4
        everything = store.shortest_paths("A", "C", 3)[1]
        assert store.shortest_paths("A", "C", 3, limit=2)[1] == everything[:2]
        assert "password" not in repr(store).lower()


@pytest.fixture(scope="module")
def hpo_pushed(neo4j_server: Neo4jConnection, hpo_kg: KnowledgeGraph) -> PushReport:
    return push_kg(hpo_kg)


def sample_pairs(
    kg: KnowledgeGraph, per_length: int = 7, seed: int = 20240607
) -> list[tuple[int, int]]:
    """Seeded pairs at distance 1, 2 and 3 with at most 2,000 shortest node paths, found by
    random walks of 1-3 steps (uniform random pairs are mostly farther apart)."""
    rng = np.random.default_rng(seed)
    found: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 3: []}
    for _ in range(20_000):
        if all(len(v) >= per_length for v in found.values()):
            break
        s = u = int(rng.integers(kg.n_nodes))
        for _ in range(int(rng.integers(1, 4))):
            lo, hi = kg.indptr[u], kg.indptr[u + 1]
            if lo == hi:
                break
            u = int(kg.indices[rng.integers(lo, hi)])
        if u == s:
            continue
        res = shortest_paths(kg, s, u, max_hops=3, cap=0)
        if not res.count or res.count > 2000 or len(found[res.length]) >= per_length:
            continue
        found[res.length].append((s, u))
    pairs = [p for v in found.values() for p in v]
    assert len(pairs) >= 3 * per_length - 1, found
    return pairs


def test_hpo_push_counts(hpo_pushed: PushReport, hpo_kg: KnowledgeGraph) -> None:
    assert (hpo_pushed.nodes, hpo_pushed.relationships) == (hpo_kg.n_nodes, hpo_kg.n_edges)
    rel_counts = np.bincount(hpo_kg.edge_rel[hpo_kg.edge_fwd], minlength=len(hpo_kg.relations))
    with Neo4jKG(hpo_kg.name) as store:
        stats = store.stats()
    assert stats["relations"] == dict(zip(hpo_kg.relations, rel_counts.tolist(), strict=True))
    types = hpo_kg.nodes["type"].value_counts()
    assert stats["types"] == dict(
        zip(types["type"].to_list(), types["count"].to_list(), strict=True)
    )


def test_hpo_paths_match_in_memory(hpo_pushed: PushReport, hpo_kg: KnowledgeGraph) -> None:
    kg = hpo_kg
    costs = node_costs(kg)
    pairs = sample_pairs(kg)
    total = 0
    with Neo4jKG(kg.name) as store:
        for s, t in pairs:
            total += assert_same_paths(kg, store, s, t, 3, costs)
        # a bound below the distance finds nothing on either side
        s, t = pairs[-1]
        assert shortest_paths(kg, s, t, max_hops=2).count == 0
        assert store.shortest_paths(kg.ids[s], kg.ids[t], 2) == (0, [])
    assert total > len(pairs)  # some pairs have many paths


# -- secrets ----------------------------------------------------------------------------------


def test_password_never_reaches_logs(
    neo4j_server: Neo4jConnection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kg = small_kg(unique("logs"))
    push_kg(kg)
    with Neo4jKG(kg.name) as store:
        store.shortest_paths("A", "D", 3)
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert neo4j_server.password not in text
    # the check means something: the driver's debug log of its auth message (credentials
    # masked by the driver) was captured along with our own records
    assert any(
        r.name.startswith("neo4j") and "credentials" in r.getMessage() for r in caplog.records
    )
    assert any("pushed KG" in r.getMessage() for r in caplog.records)


def test_wrong_password_and_unreachable_server_errors_hold_no_secret(
    neo4j_server: Neo4jConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    monkeypatch.setenv(ENV_PASSWORD, wrong)
    with pytest.raises(ConfigError) as info:
        push_kg(small_kg(unique("wrongpw")))
    assert ENV_PASSWORD in str(info.value) and wrong not in str(info.value)
    monkeypatch.setenv(ENV_PASSWORD, neo4j_server.password)
    with pytest.raises(Neo4jStoreError) as unreachable:
        Neo4jKG("any", uri=f"bolt://127.0.0.1:{free_port()}")
    assert neo4j_server.password not in str(unreachable.value)


def test_cli_kg_push_twice_same_counts(
    neo4j_server: Neo4jConnection, driver: Driver, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from kgsynth.cli import app

    name = unique("cli")
    kg_file = tmp_path / f"{name}.csv"
    kg_file.write_text("head,relation,tail\nA,treats,B\nB,is_a,C\nA,is_a,C\n")
    runner = CliRunner()
    args = ["kg", "push", "--kg", str(kg_file), "--to", neo4j_server.uri]
    args += ["--cache-dir", str(tmp_path / "cache")]
    counts = []
    for again in (False, True):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        if again:  # the same content: a no-op
            assert f"KG {name} is already in Neo4j with the same content: 3 nodes, 3 " in (
                res.output
            )
        else:
            assert f"pushed KG {name}: 3 nodes, 3 relationships" in res.output
        assert neo4j_server.password not in res.output
        counts.append(
            query(driver, "MATCH (n:Entity {kg: $kg})-[r:REL]->() RETURN count(r) AS n", kg=name)
        )
    assert counts[0] == counts[1] == [{"n": 3}]
    monkeypatch.delenv(ENV_PASSWORD)
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and ENV_PASSWORD in res.output


# -- identity: a name is bound to a content hash ----------------------------------------------


def kg_info(driver: Driver, name: str) -> dict:
    return query(driver, "MATCH (k:KGInfo {kg: $kg}) RETURN properties(k) AS i", kg=name)[0]["i"]


def other_kg(name: str) -> KnowledgeGraph:
    """The small KG with one edge more: another content hash."""
    return make_kg(name, SMALL_NODES, [*SMALL_EDGES, ("D", "r9", "E")], SMALL_SYNONYMS)


def test_another_kg_under_a_taken_name_is_refused_unless_replace(
    neo4j_server: Neo4jConnection, driver: Driver
) -> None:
    name = unique("taken")
    first, second = small_kg(name), other_kg(name)
    assert first.hash != second.hash
    push_kg(first)
    totals = db_totals(driver)
    with pytest.raises(Neo4jKGConflict) as refused:
        push_kg(second)
    msg = str(refused.value)
    assert name in msg and "--replace" in msg and first.hash[:12] in msg
    assert second.hash[:12] in msg
    assert db_totals(driver) == totals  # nothing written, the claim rolled back too
    info = kg_info(driver, name)
    assert (info["hash"], info["complete"]) == (first.hash, True)

    report = push_kg(second, replace=True)
    assert (report.relationships, report.hash, report.unchanged) == (8, second.hash, False)
    info = kg_info(driver, name)
    assert (info["hash"], info["complete"], info["relationships"]) == (second.hash, True, 8)
    # the first one can live beside it under a name of its own
    other_name = unique("taken-too")
    assert push_kg(first, name=other_name).kg == other_name
    with Neo4jKG(other_name) as store:
        assert (store.hash, store.relationship_count()) == (first.hash, 7)


def test_same_content_again_is_a_noop(neo4j_server: Neo4jConnection, driver: Driver) -> None:
    kg = small_kg(unique("noop"))
    first = push_kg(kg)
    pushed_at = kg_info(driver, kg.name)["pushed_at"]
    totals = db_totals(driver)
    calls: list[tuple[int, int]] = []
    again = push_kg(kg, progress=lambda done, total: calls.append((done, total)))
    assert again.unchanged and again.hash == kg.hash
    assert (again.nodes, again.relationships) == (first.nodes, first.relationships) == (6, 7)
    assert calls == []  # no batch was sent
    assert kg_info(driver, kg.name)["pushed_at"] == pushed_at
    assert db_totals(driver) == totals
    # --replace forces a real push of the same content
    forced = push_kg(kg, replace=True)
    assert not forced.unchanged and (forced.nodes, forced.relationships) == (6, 7)
    assert kg_info(driver, kg.name)["pushed_at"] != pushed_at


def test_new_synonyms_are_another_kg_and_an_interrupted_push_is_pushed_again(
    neo4j_server: Neo4jConnection, driver: Driver
) -> None:
    name = unique("resync")
    kg = small_kg(name)
    push_kg(kg)
    # synonyms are in the content hash (the linker matches them): a KG that gained one is
    # another KG, refused under the name unless it replaces the copy there
    renamed = make_kg(name, SMALL_NODES, SMALL_EDGES, {"A": ["a new synonym"]})
    assert renamed.hash != kg.hash
    with pytest.raises(Neo4jKGConflict):
        push_kg(renamed)
    report = push_kg(renamed, replace=True)
    assert not report.unchanged
    rows = query(driver, "MATCH (n:Entity {kg: $kg, id: 'A'}) RETURN n.synonyms AS s", kg=name)
    assert rows == [{"s": ["a new synonym"]}]
    # an interrupted push of the same KG is finished by the next push, no --replace needed
    query(driver, "MATCH (k:KGInfo {kg: $kg}) SET k.complete = false", kg=name)
    assert not push_kg(renamed).unchanged
    assert kg_info(driver, name)["complete"] is True
    # an interrupted push of another KG still holds the name
    query(driver, "MATCH (k:KGInfo {kg: $kg}) SET k.complete = false", kg=name)
    with pytest.raises(Neo4jKGConflict, match="an incomplete push"):
        push_kg(other_kg(name))


def test_reader_expecting_a_hash(neo4j_server: Neo4jConnection) -> None:
    name = unique("expect")
    kg = small_kg(name)
    push_kg(kg)
    with Neo4jKG(name, expect_hash=kg.hash) as store:
        assert store.hash == kg.hash and store.node_count() == 6
    with pytest.raises(Neo4jKGConflict, match=kg.hash[:12]):
        Neo4jKG(name, expect_hash=other_kg(name).hash)
    with pytest.raises(Neo4jKGConflict, match="holds no KG"):
        Neo4jKG(unique("nothing"), expect_hash=kg.hash)
    with Neo4jKG(unique("nothing")) as store:
        assert store.hash is None


def test_cli_two_files_with_one_name_do_not_overwrite_each_other(
    neo4j_server: Neo4jConnection, driver: Driver, tmp_path
) -> None:
    from typer.testing import CliRunner

    from kgsynth.cli import app
    from kgsynth.kg import load_kg

    stem = unique("kg")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / f"{stem}.csv", tmp_path / "b" / f"{stem}.csv"
    a.write_text("head,relation,tail\nA,treats,B\nB,is_a,C\n")
    b.write_text("head,relation,tail\nX,treats,Y\n")
    cache = tmp_path / "cache"
    hash_a = load_kg(str(a), cache_dir=cache).hash
    hash_b = load_kg(str(b), cache_dir=cache).hash
    runner = CliRunner()

    def push(path, *extra: str):
        args = ["kg", "push", "--kg", str(path), "--to", neo4j_server.uri]
        return runner.invoke(app, [*args, "--cache-dir", str(cache), *extra])

    res = push(a)
    assert res.exit_code == 0 and f"pushed KG {stem}: 3 nodes, 2 relationships" in res.output
    res = push(b)
    assert res.exit_code == 2, res.output
    assert "different KG" in res.output and "--replace" in res.output
    assert kg_info(driver, stem)["hash"] == hash_a  # a's copy untouched
    res = push(b, "--name", f"{stem}-b")
    assert res.exit_code == 0 and f"pushed KG {stem}-b: 2 nodes, 1 relationships" in res.output
    res = push(b, "--replace")
    assert res.exit_code == 0, res.output
    assert f"pushed KG {stem}: 2 nodes, 1 relationships" in res.output
    assert kg_info(driver, stem)["hash"] == hash_b
    res = push(b)
    assert res.exit_code == 0 and "nothing pushed" in res.output
