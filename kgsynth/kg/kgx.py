"""KGX TSV (Biolink model) nodes + edges files, mapped onto kgsynth's vocabulary.

Node ids are the KGX CURIEs as written ("MONDO:0005148"). A node's category column lists
the category and, often, its Biolink ancestors ("biolink:Disease|biolink:NamedThing"): the
first category that is not a generic ancestor gives the type. Multi-valued fields are
pipe-separated, as KGX writes them; `synonym` becomes the node's synonyms.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from kgsynth.kg import vocab
from kgsynth.kg.delimited import known_ids, read_table
from kgsynth.kg.graph import KnowledgeGraph

NODE_COLUMNS = ["id", "category"]
EDGE_COLUMNS = ["subject", "predicate", "object"]
_TRUE = ["true", "t", "1", "yes"]

# Biolink category and predicate values (without the "biolink:" prefix) in kgsynth's vocabulary
# (kgsynth/kg/vocab.py; bump its VOCAB_VERSION when a mapping changes)

BIOLINK_CATEGORIES: dict[str, str] = {
    "Gene": "gene",
    "Protein": "gene",
    "GeneOrGeneProduct": "gene",
    "Polypeptide": "gene",
    "ProteinIsoform": "gene",
    "Drug": "drug",
    "SmallMolecule": "drug",
    "ChemicalEntity": "drug",
    "ChemicalSubstance": "drug",  # Biolink 2 name
    "MolecularEntity": "drug",
    "MolecularMixture": "drug",
    "ChemicalMixture": "drug",
    "ComplexMolecularMixture": "drug",
    "Disease": "disease",
    "DiseaseOrPhenotypicFeature": "disease",
    "PhenotypicFeature": "phenotype",
    "ClinicalFinding": "phenotype",
    "BehavioralFeature": "phenotype",
    "AnatomicalEntity": "anatomy",
    "GrossAnatomicalStructure": "anatomy",
    "Pathway": "pathway",
    "BiologicalProcess": "biological_process",
    "MolecularActivity": "molecular_function",
    "CellularComponent": "cellular_component",
    "ExposureEvent": "exposure",
    "EnvironmentalExposure": "exposure",
    "ChemicalExposure": "exposure",
    # ancestors and mixins listed beside the real category: only used when alone
    "NamedThing": "entity",
    "Entity": "entity",
    "BiologicalEntity": "entity",
    "ThingWithTaxon": "entity",
    "PhysicalEssence": "entity",
    "PhysicalEssenceOrOccurrent": "entity",
    "OntologyClass": "entity",
    "Occurrent": "entity",
}

# predicate -> (canonical relation, reversed)
BIOLINK_PREDICATES: dict[str, tuple[str, bool]] = {
    "treats": ("treats", False),
    "treated_by": ("treats", True),
    "contraindicated_for": ("contraindicated_for", False),
    "contraindicated_in": ("contraindicated_for", False),
    "binds": ("targets", False),  # deprecated in Biolink 4 but still in KGX dumps
    "has_side_effect": ("has_side_effect", False),
    "is_side_effect_of": ("has_side_effect", True),
    "has_phenotype": ("has_phenotype", False),
    "phenotype_of": ("has_phenotype", True),
    "associated_with": ("associated_with", False),
    "gene_associated_with_condition": ("associated_with", False),
    "condition_associated_with_gene": ("associated_with", True),
    "genetically_associated_with": ("associated_with", False),
    "interacts_with": ("interacts_with", False),
    "physically_interacts_with": ("interacts_with", False),
    "directly_physically_interacts_with": ("interacts_with", False),
    "genetically_interacts_with": ("interacts_with", False),
    "expressed_in": ("expressed_in", False),
    "expresses": ("expressed_in", True),
    "participates_in": ("participates_in", False),
    "actively_involved_in": ("participates_in", False),
    "has_participant": ("participates_in", True),
    "increases_expression_of": ("upregulates", False),
    "decreases_expression_of": ("downregulates", False),
    "regulates": ("regulates", False),
    "similar_to": ("resembles", False),
    "disease_has_location": ("localizes_to", False),
    "location_of_disease": ("localizes_to", True),
    "has_member": ("includes", False),
    "member_of": ("includes", True),
    "causes": ("causes", False),
    "caused_by": ("causes", True),
    "subclass_of": ("is_a", False),
    "superclass_of": ("is_a", True),
}

# a negated Biolink edge (negated=True) asserts absence: these have a name of their own,
# any other relation r becomes not_r
NEGATED: dict[str, str] = {
    "has_phenotype": "lacks_phenotype",
    "expressed_in": "not_expressed_in",
}


def load_kgx(nodes_path: Path, edges_path: Path, name: str) -> KnowledgeGraph:
    # KGX requires a category column; an empty cell still makes a node (type "entity")
    _, nodes = read_table(
        nodes_path, NODE_COLUMNS, ["name", "synonym"], "KGX nodes", non_empty=["id"]
    )
    ef, edges = read_table(edges_path, EDGE_COLUMNS, ["negated"], "KGX edges")
    nodes = nodes.with_columns(pl.col("id").str.strip_chars())
    edges = edges.with_columns(pl.col(c).str.strip_chars() for c in EDGE_COLUMNS)
    for col in ("subject", "object"):
        known_ids(ef, edges, col, nodes["id"], "nodes file")
    meta = {
        "source": f"{nodes_path}, {edges_path}",
        "format": "kgx",
        "vocab": vocab.VOCAB_VERSION,
    }
    return KnowledgeGraph.from_frames(
        name, _nodes(nodes), _edges(edges), meta, source=str(edges_path)
    )


def _nodes(nodes: pl.DataFrame) -> pl.DataFrame:
    types = _types(nodes.select(pl.int_range(pl.len()).alias("n"), "category"))
    name = pl.col("name").str.strip_chars()
    return pl.concat([nodes, types], how="horizontal").select(
        "id",
        pl.when(name != "").then(name).otherwise("id").alias("name"),
        "type",
        _pipe_list(pl.col("synonym")).alias("synonyms"),
    )


def _types(cats: pl.DataFrame) -> pl.DataFrame:
    """One type per node, in node order: its first specific category (see module doc)."""
    one = (
        cats.with_columns(pl.col("category").str.split("|"))
        .explode("category")
        .with_columns(biolink_term(pl.col("category")).alias("term"))
        .filter(pl.col("term") != "")
        .with_columns(pl.col("term").alias("type"), pl.int_range(pl.len()).over("n").alias("pos"))
        .pipe(vocab.normalise, ["type"], BIOLINK_CATEGORIES)
        .group_by("n")
        .agg(pl.col("type").sort_by([pl.col("type") == "entity", "pos"]).first())
    )
    # nodes whose category is empty get the generic type
    return (
        cats.select("n")
        .join(one, on="n", how="left", maintain_order="left")
        .select(pl.col("type").fill_null("entity"))
    )


def _edges(edges: pl.DataFrame) -> pl.DataFrame:
    e = edges.with_columns(biolink_term(pl.col("predicate")).alias("term"))
    table = BIOLINK_PREDICATES
    rels = vocab.mapping(e["term"], {p: rel for p, (rel, _) in table.items()})
    reverse = {p: rev for p, (_, rev) in table.items()}
    # a negated edge asserts absence: never let it read as the positive relation
    negated_rels = {r: NEGATED.get(r, f"not_{r}") for r in rels.values()}
    negated = pl.col("negated").str.strip_chars().str.to_lowercase().is_in(_TRUE)
    rel = pl.col("term").replace_strict(rels, return_dtype=pl.String)
    e = e.select(
        pl.col("subject").alias("head"),
        pl.when(negated)
        .then(rel.replace_strict(negated_rels, return_dtype=pl.String))
        .otherwise(rel)
        .alias("relation"),
        pl.col("object").alias("tail"),
        pl.col("term").replace_strict(reverse, default=False, return_dtype=pl.Boolean).alias("rev"),
    )
    return vocab.swap_where(e, pl.col("rev")).select("head", "relation", "tail")


def biolink_term(expr: pl.Expr) -> pl.Expr:
    return expr.str.strip_chars().str.strip_prefix("biolink:")


def _pipe_list(expr: pl.Expr) -> pl.Expr:
    items = expr.str.split("|").list.eval(pl.element().str.strip_chars())
    return items.list.filter(pl.element() != "")
