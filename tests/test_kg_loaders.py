"""Hetionet (TSV + SIF, JSON) and KGX loaders, the shared vocabulary and --kg spec forms.

One small graph is written in every format exactly as the real files lay it out: Hetionet's
nodes TSV / edges SIF / hetnet JSON (metaedges in Hetionet's own direction, gene ids as JSON
integers), KGX TSV (pipe-separated Biolink categories, inverse predicates) and PrimeKG's
kg.csv (every edge listed both ways). All must give the same node types, relation names and
edges, checked by node name.
"""

from __future__ import annotations

import bz2
import gzip
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from kgsynth.errors import InputError, UnknownKGError
from kgsynth.kg import KnowledgeGraph, load_kg, vocab
from kgsynth.kg import cache as kg_cache
from kgsynth.kg.hetionet import HETIONET_KINDS, HETIONET_METAEDGES
from kgsynth.kg.kgx import BIOLINK_CATEGORIES, BIOLINK_PREDICATES, NEGATED
from kgsynth.kg.tabular import PRIMEKG_RELATIONS, PRIMEKG_TYPES

# -- one graph, every format --------------------------------------------------------------------

# name -> Hetionet (kind, identifier), PrimeKG (x_type, x_source, x_id), KGX (id, category)
ENTITIES: dict[str, tuple[tuple[str, str | int], tuple[str, str, str], tuple[str, str]]] = {
    "Aspirin": (
        ("Compound", "DB00945"),
        ("drug", "DrugBank", "DB00945"),
        ("CHEBI:15365", "biolink:SmallMolecule|biolink:ChemicalEntity|biolink:NamedThing"),
    ),
    "migraine": (
        ("Disease", "DOID:6364"),
        ("disease", "MONDO", "5005"),
        ("MONDO:0005277", "biolink:Disease|biolink:DiseaseOrPhenotypicFeature"),
    ),
    "Headache": (
        ("Symptom", "D006261"),
        ("effect/phenotype", "HPO", "2315"),
        ("HP:0002315", "biolink:PhenotypicFeature"),
    ),
    "Nausea": (
        ("Side Effect", "C0027497"),
        ("effect/phenotype", "HPO", "2018"),
        # a generic ancestor listed first does not hide the real category
        ("HP:0002018", "biolink:NamedThing|biolink:PhenotypicFeature"),
    ),
    "PTGS1": (("Gene", 5742), ("gene/protein", "NCBI", "5742"), ("NCBIGene:5742", "biolink:Gene")),
    "PTGS2": (
        ("Gene", 5743),
        ("gene/protein", "NCBI", "5743"),
        ("UniProtKB:P35354", "biolink:Protein|biolink:GeneOrGeneProduct"),
    ),
    "brain": (
        ("Anatomy", "UBERON:0000955"),
        ("anatomy", "UBERON", "955"),
        ("UBERON:0000955", "biolink:AnatomicalEntity"),
    ),
    "Arachidonic acid metabolism": (
        ("Pathway", "PC7_5812"),
        ("pathway", "REACTOME", "R-HSA-2142753"),
        ("REACT:R-HSA-2142753", "biolink:Pathway"),
    ),
    "inflammatory response": (
        ("Biological Process", "GO:0006954"),
        ("biological_process", "GO", "6954"),
        ("GO:0006954", "biolink:BiologicalProcess"),
    ),
}

# canonical (head, relation, tail) -> Hetionet metaedge, PrimeKG relation, KGX predicate and
# whether KGX states it tail -> head (an inverse predicate)
EDGES: dict[tuple[str, str, str], tuple[str, str, str, bool]] = {
    ("Aspirin", "treats", "migraine"): ("CtD", "indication", "biolink:treats", False),
    ("migraine", "has_phenotype", "Headache"): (
        "DpS",
        "disease_phenotype_positive",
        "biolink:phenotype_of",
        True,
    ),
    ("PTGS1", "associated_with", "migraine"): (
        "DaG",  # Hetionet: Disease -associates-> Gene
        "disease_protein",
        "biolink:condition_associated_with_gene",
        True,
    ),
    ("PTGS1", "interacts_with", "PTGS2"): (
        "GiG",
        "protein_protein",
        "biolink:interacts_with",
        False,
    ),
    ("Aspirin", "targets", "PTGS1"): ("CbG", "drug_protein", "biolink:binds", False),
    ("Aspirin", "targets", "PTGS2"): ("CbG", "drug_protein", "biolink:binds", False),
    ("PTGS2", "expressed_in", "brain"): (
        "AeG",  # Hetionet: Anatomy -expresses-> Gene
        "anatomy_protein_present",
        "biolink:expresses",
        True,
    ),
    ("PTGS2", "participates_in", "Arachidonic acid metabolism"): (
        "GpPW",
        "pathway_protein",
        "biolink:participates_in",
        False,
    ),
    ("PTGS1", "participates_in", "inflammatory response"): (
        "GpBP",
        "bioprocess_protein",
        "biolink:has_participant",
        True,
    ),
    ("Aspirin", "has_side_effect", "Nausea"): (
        "CcSE",
        "drug_effect",
        "biolink:has_side_effect",
        False,
    ),
}
EXPECTED_TYPES = {
    "Aspirin": "drug",
    "migraine": "disease",
    "Headache": "phenotype",
    "Nausea": "phenotype",
    "PTGS1": "gene",
    "PTGS2": "gene",
    "brain": "anatomy",
    "Arachidonic acid metabolism": "pathway",
    "inflammatory response": "biological_process",
}


def het_id(name: str) -> str:
    kind, ident = ENTITIES[name][0]
    return f"{kind}::{ident}"


def het_stored(head: str, tail: str, metaedge: str) -> tuple[str, str]:
    """Hetionet stores an edge from its metaedge's source kind."""
    source_kind = HETIONET_METAEDGES[metaedge][0]
    return (head, tail) if ENTITIES[head][0][0] == source_kind else (tail, head)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_hetionet_tsv(folder: Path) -> tuple[Path, Path]:
    nodes = ["id\tname\tkind"] + [
        f"{het_id(n)}\t{n}\t{kind}" for n, ((kind, _), _, _) in ENTITIES.items()
    ]
    edges = ["source\tmetaedge\ttarget"]
    for (h, _, t), (metaedge, *_) in EDGES.items():
        s, o = het_stored(h, t, metaedge)
        edges.append(f"{het_id(s)}\t{metaedge}\t{het_id(o)}")
    return (
        write(folder / "hetionet-v1.0-nodes.tsv", nodes),
        write(folder / "hetionet-v1.0-edges.sif", edges),
    )


def hetnet_json() -> dict:
    """A hetnet JSON document as hetnetpy writes it (metagraph + nodes + edges)."""
    kinds = sorted({spec[0] for spec in HETIONET_METAEDGES.values()})
    tuples = [
        [src, tgt, verb, "forward" if ">" in abbrev else "both"]
        for abbrev, (src, verb, tgt, _, _) in HETIONET_METAEDGES.items()
    ]
    nodes = [
        {"kind": kind, "identifier": ident, "name": n, "data": {"source": "test", "n": 1}}
        for n, ((kind, ident), _, _) in ENTITIES.items()
    ]
    edges = []
    for (h, _, t), (metaedge, *_) in EDGES.items():
        s, o = het_stored(h, t, metaedge)
        edges.append(
            {
                "source_id": list(ENTITIES[s][0]),
                "target_id": list(ENTITIES[o][0]),
                "kind": HETIONET_METAEDGES[metaedge][1],
                "direction": "both",
                "data": {"sources": ["test"], "unbiased": False},
            }
        )
    return {
        "metanode_kinds": kinds,
        "metaedge_tuples": tuples,
        "kind_to_abbrev": {"Gene": "G", "Compound": "C", "treats": "t"},
        "nodes": nodes,
        "edges": edges,
    }


def write_json(path: Path, doc: dict, indent: int | None = 2) -> Path:
    data = json.dumps(doc, indent=indent).encode()
    if path.suffix == ".bz2":
        data = bz2.compress(data)
    elif path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_kgx(folder: Path) -> tuple[Path, Path]:
    nodes = ["id\tcategory\tname\tprovided_by\tsynonym"] + [
        f"{kid}\t{cat}\t{n}\tinfores:test\t{n.upper()}|{n} (alias)"
        for n, (_, _, (kid, cat)) in ENTITIES.items()
    ]
    edges = ["id\tsubject\tpredicate\tobject\tknowledge_level\tprimary_knowledge_source"]
    for i, ((h, _, t), (_, _, predicate, inverse)) in enumerate(EDGES.items()):
        s, o = (t, h) if inverse else (h, t)
        sid, oid = ENTITIES[s][2][0], ENTITIES[o][2][0]
        edges.append(f"e{i}\t{sid}\t{predicate}\t{oid}\tknowledge_assertion\tinfores:test")
    return write(folder / "test_nodes.tsv", nodes), write(folder / "test_edges.tsv", edges)


PRIMEKG_HEADER = (
    "relation,display_relation,x_index,x_id,x_type,x_name,x_source,"
    "y_index,y_id,y_type,y_name,y_source"
)


def primekg_row(rel: str, x: str, y: str) -> str:
    xt, xs, xi = ENTITIES[x][1]
    yt, ys, yi = ENTITIES[y][1]
    return f'{rel},{rel},0,{xi},{xt},"{x}",{xs},1,{yi},{yt},"{y}",{ys}'


def write_primekg(path: Path) -> Path:
    rows = [PRIMEKG_HEADER]
    for (h, _, t), (_, rel, _, _) in EDGES.items():
        rows += [primekg_row(rel, h, t), primekg_row(rel, t, h)]  # kg.csv lists both ways
    return write(path, rows)


def by_name(kg: KnowledgeGraph) -> set[tuple[str, str, str]]:
    e = kg.edge_frame()
    names, rels = kg.names, kg.relations
    return {(names[h], rels[r], names[t]) for h, r, t in e.iter_rows()}


def types_by_name(kg: KnowledgeGraph) -> dict[str, str]:
    return dict(zip(kg.names, kg.types, strict=True))


@pytest.fixture
def all_formats(tmp_path: Path) -> dict[str, str]:
    het = tmp_path / "het"
    kgx = tmp_path / "kgx"
    het.mkdir()
    kgx.mkdir()
    nodes, edges = write_hetionet_tsv(het)
    kn, ke = write_kgx(kgx)
    return {
        "hetionet-tsv": f"hetionet:{nodes},{edges}",
        "hetionet-json": f"hetionet:{write_json(tmp_path / 'hetionet-v1.0.json', hetnet_json())}",
        "hetionet-json-bz2": str(write_json(tmp_path / "h.json.bz2", hetnet_json(), None)),
        "hetionet-json-gz": str(write_json(tmp_path / "h.json.gz", hetnet_json())),
        "kgx": f"kgx:{kn},{ke}",
        "primekg": str(write_primekg(tmp_path / "kg.csv")),
    }


def test_every_format_gives_the_same_graph(all_formats: dict[str, str]) -> None:
    graphs = {fmt: load_kg(spec) for fmt, spec in all_formats.items()}
    for fmt, kg in graphs.items():
        assert types_by_name(kg) == EXPECTED_TYPES, fmt
        assert by_name(kg) == set(EDGES), fmt
        assert kg.n_edges == len(EDGES), fmt  # PrimeKG's two listings make one edge
        assert kg.n_nodes == len(ENTITIES), fmt
        assert kg.relations == sorted({r for _, r, _ in EDGES}), fmt
        assert set(kg.types) <= set(vocab.NODE_TYPES), fmt
        assert set(kg.relations) <= set(vocab.RELATIONS), fmt
        assert kg.meta["vocab"] == vocab.VOCAB_VERSION
    # per-format node ids: Hetionet's Kind::identifier, KGX CURIEs, PrimeKG source:id
    assert "Gene::5742" in graphs["hetionet-tsv"].ids
    assert "Gene::5742" in graphs["hetionet-json"].ids  # a JSON integer id, as a string
    assert "NCBIGene:5742" in graphs["kgx"].ids
    assert "NCBI:5742" in graphs["primekg"].ids
    assert graphs["hetionet-tsv"].hash == graphs["hetionet-json"].hash
    assert graphs["hetionet-json"].hash == graphs["hetionet-json-bz2"].hash


def test_names_and_meta(all_formats: dict[str, str]) -> None:
    assert load_kg(all_formats["hetionet-tsv"]).name == "hetionet-v1.0"
    assert load_kg(all_formats["hetionet-json"]).name == "hetionet-v1.0"
    assert load_kg(all_formats["hetionet-json-bz2"]).name == "h"
    assert load_kg(all_formats["hetionet-tsv"]).meta["release"] == "v1.0"
    assert "release" not in load_kg(all_formats["primekg"]).meta
    kgx = load_kg(all_formats["kgx"])
    assert kgx.name == "test"
    assert (kgx.meta["format"], load_kg(all_formats["hetionet-json"]).meta["format"]) == (
        "kgx",
        "hetionet-json",
    )


def test_kgx_synonyms_and_types(all_formats: dict[str, str]) -> None:
    kg = load_kg(all_formats["kgx"])
    row = kg.nodes.row(kg.index_of("NCBIGene:5742"), named=True)
    assert row["synonyms"] == ["PTGS1", "PTGS1 (alias)"]
    aliases = kg.aliases().filter(pl.col("idx") == kg.index_of("NCBIGene:5742"))
    assert set(aliases["alias"]) == {"PTGS1", "PTGS1 (alias)"}


def test_paths_agree_across_formats(all_formats: dict[str, str]) -> None:
    from kgsynth.paths.search import shortest_paths

    counts = set()
    for spec in all_formats.values():
        kg = load_kg(spec)
        s = kg.names.index("Headache")
        t = kg.names.index("brain")
        found = shortest_paths(kg, s, t, max_hops=6)
        counts.add((found.length, found.count))
    # Headache - migraine - PTGS1 - PTGS2 - brain, or via Aspirin - PTGS2
    assert counts == {(4, 2)}


# -- the vocabulary --------------------------------------------------------------------------


def test_vocab_tables_map_into_the_canonical_names() -> None:
    types = set(vocab.NODE_TYPES)
    rels = set(vocab.RELATIONS)
    assert set(PRIMEKG_TYPES.values()) <= types
    assert set(HETIONET_KINDS.values()) <= types
    assert set(BIOLINK_CATEGORIES.values()) <= types
    for rel, head, tail in PRIMEKG_RELATIONS.values():
        assert rel in rels and head in types and tail in types
    assert {spec[3] for spec in HETIONET_METAEDGES.values()} <= rels
    assert {rel for rel, _ in BIOLINK_PREDICATES.values()} <= rels
    assert set(NEGATED.values()) <= rels
    for name in (*types, *rels):
        assert re.fullmatch(r"[a-z][a-z_]*[a-z]", name), name


def test_hetionet_metaedge_table_is_hetionet_v1() -> None:
    """24 metaedges over 11 kinds; each abbreviation spells source kind, verb, target kind."""
    abbrev = {
        "Anatomy": "A",
        "Biological Process": "BP",
        "Cellular Component": "CC",
        "Compound": "C",
        "Disease": "D",
        "Gene": "G",
        "Molecular Function": "MF",
        "Pathway": "PW",
        "Pharmacologic Class": "PC",
        "Side Effect": "SE",
        "Symptom": "S",
    }
    table = HETIONET_METAEDGES
    assert len(table) == 24
    assert set(HETIONET_KINDS) == set(abbrev)
    for key, (src, verb, tgt, _, _) in table.items():
        arrow = ">" if key == "Gr>G" else ""  # the one directed metaedge
        assert key == abbrev[src] + verb[0] + arrow + abbrev[tgt], key
    assert table["CtD"][:3] == ("Compound", "treats", "Disease")
    assert table["DaG"][:3] == ("Disease", "associates", "Gene")
    assert table["DpS"][:3] == ("Disease", "presents", "Symptom")


def test_hpo_uses_the_canonical_names(hpo_kg: KnowledgeGraph) -> None:
    assert set(hpo_kg.types) <= set(vocab.NODE_TYPES)
    assert set(hpo_kg.relations) <= set(vocab.RELATIONS)


def test_snake_case_of_unknown_values() -> None:
    raw = ["Side Effect", "PhenotypicFeature", "off-label use", "RNAProduct", "HAS_X", "---"]
    got = pl.DataFrame({"v": raw}).select(vocab.snake(pl.col("v")))["v"].to_list()
    assert got == ["side_effect", "phenotypic_feature", "off_label_use", "rna_product", "has_x"] + [
        "---"
    ]


def test_unknown_values_pass_through_snake_cased(tmp_path: Path) -> None:
    # PrimeKG: an unknown type and relation
    path = write(
        tmp_path / "kg.csv",
        [
            PRIMEKG_HEADER,
            "Some Relation,x,0,1,Cell Line,HeLa,CLO,1,5742,gene/protein,PTGS1,NCBI",
            "Some Relation,x,1,5742,gene/protein,PTGS1,NCBI,0,1,Cell Line,HeLa,CLO",
        ],
    )
    kg = load_kg(str(path))
    assert types_by_name(kg) == {"HeLa": "cell_line", "PTGS1": "gene"}
    # an unknown relation has no direction to recover: both listings stay
    assert by_name(kg) == {("HeLa", "some_relation", "PTGS1"), ("PTGS1", "some_relation", "HeLa")}

    # KGX: unknown category and predicate
    nodes = write(
        tmp_path / "x_nodes.tsv",
        ["id\tcategory\tname", "CLO:1\tbiolink:CellLine|biolink:NamedThing\tHeLa", "Q:1\t\t"],
    )
    edges = write(
        tmp_path / "x_edges.tsv", ["subject\tpredicate\tobject", "CLO:1\tbiolink:hasThing\tQ:1"]
    )
    kg = load_kg(f"kgx:{nodes},{edges}")
    assert types_by_name(kg) == {"HeLa": "cell_line", "Q:1": "entity"}  # no name: the id
    assert by_name(kg) == {("HeLa", "has_thing", "Q:1")}


def test_primekg_keeps_one_direction_per_edge(tmp_path: Path) -> None:
    path = write(
        tmp_path / "kg.csv",
        [
            PRIMEKG_HEADER,
            primekg_row("indication", "migraine", "Aspirin"),  # only the reverse listing
            primekg_row("protein_protein", "PTGS2", "PTGS1"),
            primekg_row("protein_protein", "PTGS1", "PTGS2"),
            primekg_row("drug_drug", "Aspirin", "Aspirin"),  # a self-loop: dropped
            primekg_row("disease_phenotype_negative", "migraine", "Nausea"),
        ],
    )
    kg = load_kg(str(path))
    assert by_name(kg) == {
        ("Aspirin", "treats", "migraine"),
        # a same-type pair has no direction: from the smaller id (NCBI:5742) to the larger
        ("PTGS1", "interacts_with", "PTGS2"),
        ("migraine", "lacks_phenotype", "Nausea"),
    }


def test_kgx_negated_edges_never_read_as_positive(tmp_path: Path) -> None:
    nodes = write(
        tmp_path / "n_nodes.tsv",
        ["id\tcategory\tname", "D:1\tbiolink:Disease\tD", "P:1\tbiolink:PhenotypicFeature\tP"],
    )
    edges = write(
        tmp_path / "n_edges.tsv",
        [
            "subject\tpredicate\tobject\tnegated",
            "D:1\tbiolink:has_phenotype\tP:1\tTrue",
            "D:1\tbiolink:related_to\tP:1\ttrue",
            "D:1\tbiolink:causes\tP:1\tFalse",
        ],
    )
    kg = load_kg(f"kgx:{nodes},{edges}")
    assert by_name(kg) == {
        ("D", "lacks_phenotype", "P"),
        ("D", "not_related_to", "P"),
        ("D", "causes", "P"),
    }


def test_hetionet_json_edge_stored_backwards(tmp_path: Path) -> None:
    doc = hetnet_json()
    for e in doc["edges"]:
        if e["kind"] == "treats":  # Disease -> Compound instead of Compound -> Disease
            e["source_id"], e["target_id"] = e["target_id"], e["source_id"]
        if e["kind"] == "expresses":
            e["source_id"], e["target_id"] = e["target_id"], e["source_id"]
    doc["edges"].append(
        {
            "source_id": ["Gene", 5742],
            "target_id": ["Gene", 5743],
            "kind": "co-expresses",  # no such metaedge: the verb passes through
            "direction": "both",
            "data": {},
        }
    )
    kg = load_kg(str(write_json(tmp_path / "h.json", doc)))
    assert by_name(kg) == set(EDGES) | {("PTGS1", "co_expresses", "PTGS2")}


# -- spec forms and caching ------------------------------------------------------------------


def test_plain_paths_are_sniffed(tmp_path: Path) -> None:
    nodes, edges = write_hetionet_tsv(tmp_path)
    gz = tmp_path / "hetionet-v1.0-edges.sif.gz"
    gz.write_bytes(gzip.compress(edges.read_bytes()))
    edges.unlink()  # Hetionet ships the SIF gzipped
    kn, ke = write_kgx(tmp_path)
    want = set(EDGES)
    assert by_name(load_kg(str(nodes))) == want  # the nodes file finds its edges file
    assert by_name(load_kg(str(gz))) == want  # and the other way round
    assert by_name(load_kg(f"{gz},{nodes}")) == want  # two files, any order
    assert by_name(load_kg(str(ke))) == want
    assert load_kg(str(kn)).meta["format"] == "kgx"
    with pytest.raises(UnknownKGError) as err:  # two KGs in one folder
        load_kg(str(tmp_path))
    assert "several KGs" in str(err.value)
    assert by_name(load_kg(f"kgx:{tmp_path}")) == want
    assert load_kg(f"hetionet:{tmp_path}").meta["format"] == "hetionet"


def test_folder_with_one_kg(tmp_path: Path) -> None:
    write_json(tmp_path / "hetionet-v1.0.json.bz2", hetnet_json())
    (tmp_path / "README.md").write_text("# Hetionet\n")
    kg = load_kg(str(tmp_path))
    assert kg.meta["format"] == "hetionet-json" and kg.name == "hetionet-v1.0"


def test_spec_errors(tmp_path: Path) -> None:
    nodes, _ = write_hetionet_tsv(tmp_path)
    lone = tmp_path / "lonely-nodes.tsv"
    lone.write_bytes(nodes.read_bytes())
    cases = {
        str(lone): "no matching hetionet-edges file",
        f"kgx:{nodes}": "does not look like a kgx file",
        f"hetionet:{tmp_path / 'missing.sif'}": "not found",
        f"{nodes},{nodes},{nodes}": "at most two files",
        str(tmp_path / "empty"): "neither a built-in KG",
    }
    for spec, msg in cases.items():
        with pytest.raises(UnknownKGError) as err:
            load_kg(spec)
        assert msg in str(err.value), spec
        assert "hpo" in str(err.value)


def test_cache_for_two_file_kgs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes, edges = write_hetionet_tsv(tmp_path)
    spec = f"hetionet:{nodes},{edges}"
    cache = tmp_path / "cache"
    first = load_kg(spec, cache_dir=cache)

    def no_rebuild(*args: object) -> KnowledgeGraph:
        raise AssertionError("rebuilt although cached")

    with monkeypatch.context() as m:
        m.setattr("kgsynth.kg.hetionet.load_hetionet_tsv", no_rebuild)
        again = load_kg(spec, cache_dir=cache)
    assert again.hash == first.hash and again.meta == first.meta
    assert np.array_equal(again.indices, first.indices)
    # an edited edges file rebuilds
    write(edges, edges.read_text().splitlines()[:3])
    st = edges.stat()
    os.utime(edges, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert load_kg(spec, cache_dir=cache).n_edges == 2
    assert len(list((cache / "kg").iterdir())) == 2
    # the same files read as another format are cached apart
    files = [nodes, edges]
    assert kg_cache.cache_path(cache, "x", files, "kgx|v1") != kg_cache.cache_path(
        cache, "x", files, "hetionet|v1"
    )


# -- malformed files -------------------------------------------------------------------------


def het_files(tmp_path: Path) -> tuple[Path, Path]:
    return write_hetionet_tsv(tmp_path)


def replace_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    write(path, lines)


def raises(spec: str) -> InputError:
    with pytest.raises(InputError) as err:
        load_kg(spec)
    return err.value


def test_unknown_metaedge_names_line_and_field(tmp_path: Path) -> None:
    nodes, edges = het_files(tmp_path)
    replace_line(edges, 4, f"{het_id('PTGS1')}\tGxG\t{het_id('PTGS2')}")
    err = raises(f"hetionet:{nodes},{edges}")
    assert (err.path, err.line, err.field) == (str(edges), 4, "metaedge")
    assert "unknown metaedge abbreviation 'GxG'" in str(err) and "CtD" in str(err)


def test_hetionet_missing_column(tmp_path: Path) -> None:
    nodes, edges = het_files(tmp_path)
    replace_line(nodes, 1, "id\tname\ttype")
    err = raises(f"hetionet:{nodes},{edges}")
    assert (err.path, err.line, err.field) == (str(nodes), 1, "kind")
    assert "missing column" in str(err)
    replace_line(nodes, 1, "id\tname\tkind")
    replace_line(edges, 1, "source\tedge\ttarget")
    err = raises(f"hetionet:{nodes},{edges}")
    assert (err.path, err.line, err.field) == (str(edges), 1, "metaedge")


def test_hetionet_edge_to_unknown_node(tmp_path: Path) -> None:
    nodes, edges = het_files(tmp_path)
    replace_line(edges, 3, f"{het_id('migraine')}\tDaG\tGene::999999")
    err = raises(f"hetionet:{nodes},{edges}")
    assert (err.path, err.line, err.field) == (str(edges), 3, "target")
    assert "unknown node 'Gene::999999'" in str(err) and "line 3" in str(err)


def test_hetionet_metaedge_kind_mismatch(tmp_path: Path) -> None:
    nodes, edges = het_files(tmp_path)
    replace_line(edges, 2, f"{het_id('PTGS1')}\tCtD\t{het_id('migraine')}")
    err = raises(f"hetionet:{nodes},{edges}")
    assert (err.line, err.field) == (2, "source")
    assert "needs a Compound source" in str(err) and "is a Gene" in str(err)


def test_hetionet_ragged_and_empty_rows(tmp_path: Path) -> None:
    nodes, edges = het_files(tmp_path)
    replace_line(nodes, 5, "Gene::5742\tPTGS1")  # kind missing: too few fields
    err = raises(f"hetionet:{nodes},{edges}")
    assert (err.path, err.line) == (str(nodes), 5) and "2 fields" in str(err)
    nodes, edges = het_files(tmp_path)
    replace_line(nodes, 6, "Gene::5743\tPTGS2\t ")
    err = raises(f"hetionet:{nodes},{edges}")
    assert (err.line, err.field) == (6, "kind") and "empty" in str(err)


def test_compressed_sif_errors_name_the_line(tmp_path: Path) -> None:
    nodes, edges = het_files(tmp_path)
    replace_line(edges, 5, "Gene::5742\tGiG")
    gz = tmp_path / "hetionet-v1.0-edges.sif.gz"
    gz.write_bytes(gzip.compress(edges.read_bytes()))
    err = raises(f"hetionet:{nodes},{gz}")
    assert (err.path, err.line) == (str(gz), 5)
    gz.write_bytes(gzip.compress(edges.read_bytes())[:30])  # truncated download
    err = raises(f"hetionet:{nodes},{gz}")
    assert "corrupt gzip" in str(err) and err.path == str(gz)


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    text = json.dumps(hetnet_json(), indent=2)
    lines = text.splitlines()
    at = next(i for i, ln in enumerate(lines) if '"PTGS2"' in ln)
    lines[at] = lines[at].rstrip(",")  # a missing comma
    path = tmp_path / "h.json"
    path.write_text("\n".join(lines))
    err = raises(f"hetionet:{path}")
    assert err.path == str(path) and err.line == at + 2  # the next key is unexpected
    assert "bad JSON" in str(err)


def test_json_edge_to_unknown_node_names_element_and_line(tmp_path: Path) -> None:
    doc = hetnet_json()
    doc["edges"][3]["target_id"] = ["Gene", 999999]
    path = write_json(tmp_path / "h.json", doc)
    err = raises(f"hetionet:{path}")
    assert err.field == "edges[3].target_id"
    assert "unknown node" in str(err) and "999999" in str(err)
    lines = path.read_text().splitlines()
    assert err.line is not None
    # the element's first line opens the object, and its lines hold the bad id
    assert lines[err.line - 1].strip() == "{"
    assert "999999" in "\n".join(lines[err.line - 1 : err.line + 12])


def test_json_shape_errors(tmp_path: Path) -> None:
    doc = hetnet_json()
    doc["nodes"][2]["identifier"] = {"not": "an id"}
    err = raises(str(write_json(tmp_path / "a.json", doc, None)))
    assert err.field == "nodes[2]" and "identifier" in str(err) and err.line == 1

    doc = hetnet_json()
    del doc["nodes"][4]["kind"]
    err = raises(str(write_json(tmp_path / "b.json", doc)))
    assert err.field == "nodes[4].kind" and "missing" in str(err)

    doc = hetnet_json()
    del doc["edges"]
    err = raises(str(write_json(tmp_path / "c.json", doc)))
    assert err.field == "edges" and "no top-level 'edges'" in str(err)

    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(hetnet_json()).encode())
    assert load_kg(str(path)).n_edges == len(EDGES)

    path = tmp_path / "d.json"
    path.write_text('[{"nodes": [], "edges": []}]')
    err = raises(f"hetionet:{path}")
    assert "top level must be an object" in str(err)


def test_kgx_errors(tmp_path: Path) -> None:
    nodes, edges = write_kgx(tmp_path)
    replace_line(edges, 4, "e3\tNCBIGene:5742\tbiolink:interacts_with\tNCBIGene:1\tx\ty")
    err = raises(f"kgx:{nodes},{edges}")
    assert (err.path, err.line, err.field) == (str(edges), 4, "object")
    assert "NCBIGene:1" in str(err)

    nodes, edges = write_kgx(tmp_path)
    replace_line(edges, 1, "id\tsubject\tpredicate\ttarget\tknowledge_level\tsource")
    err = raises(f"kgx:{nodes},{edges}")
    assert (err.line, err.field) == (1, "object")

    nodes, edges = write_kgx(tmp_path)
    replace_line(nodes, 1, "id\tname\tprovided_by\tsynonym\tx")
    err = raises(f"kgx:{nodes},{edges}")
    assert (err.path, err.line, err.field) == (str(nodes), 1, "category")

    nodes, edges = write_kgx(tmp_path)
    replace_line(edges, 3, "e1\tMONDO:0005277\t\tHP:0002315\tx\ty")
    err = raises(f"kgx:{nodes},{edges}")
    assert (err.line, err.field) == (3, "predicate")


def test_relation_counts_match_the_source(all_formats: dict[str, str]) -> None:
    kg = load_kg(all_formats["primekg"])
    e = kg.edge_frame()
    counts = Counter(kg.relations[r] for r in e["rel"].to_list())
    assert counts == Counter(r for _, r, _ in EDGES)
