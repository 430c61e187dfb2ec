"""User KG files read with polars: PrimeKG's kg.csv layout and plain triples.

PrimeKG types and relations are mapped onto kgsynth's vocabulary (kgsynth/kg/vocab.py) by
the tables below; a triples file is the user's own vocabulary and is kept as written.
Malformed files fail with an InputError naming the file, the line and what is wrong.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from kgsynth.kg import vocab
from kgsynth.kg.delimited import TextFile, no_empty, read, require, sniff
from kgsynth.kg.graph import KnowledgeGraph

PRIMEKG_COLUMNS = [
    "relation",
    "display_relation",
    "x_index",
    "x_id",
    "x_type",
    "x_name",
    "x_source",
    "y_index",
    "y_id",
    "y_type",
    "y_name",
    "y_source",
]

# PrimeKG's x_type / y_type and relation names in kgsynth's vocabulary (kgsynth/kg/vocab.py;
# bump its VOCAB_VERSION when a mapping changes)

PRIMEKG_TYPES: dict[str, str] = {
    "gene/protein": "gene",
    "drug": "drug",
    "disease": "disease",
    "effect/phenotype": "phenotype",
    "anatomy": "anatomy",
    "pathway": "pathway",
    "biological_process": "biological_process",
    "molecular_function": "molecular_function",
    "cellular_component": "cellular_component",
    "exposure": "exposure",
}

# relation -> (canonical relation, head type, tail type), types already canonical.
# kg.csv lists every edge in both directions: the loader keeps the one that runs from the
# head type to the tail type; a same-type relation has no direction to recover, so its
# edges run from the smaller id to the larger. display_relation only refines drug_protein
# (target/enzyme/carrier/transporter): not used.
PRIMEKG_RELATIONS: dict[str, tuple[str, str, str]] = {
    "protein_protein": ("interacts_with", "gene", "gene"),
    "drug_protein": ("targets", "drug", "gene"),
    "contraindication": ("contraindicated_for", "drug", "disease"),
    "indication": ("treats", "drug", "disease"),
    "off-label use": ("off_label_use", "drug", "disease"),
    "drug_drug": ("interacts_with", "drug", "drug"),
    "phenotype_protein": ("associated_with", "gene", "phenotype"),
    "phenotype_phenotype": ("parent_child", "phenotype", "phenotype"),
    "disease_phenotype_negative": ("lacks_phenotype", "disease", "phenotype"),
    "disease_phenotype_positive": ("has_phenotype", "disease", "phenotype"),
    "disease_protein": ("associated_with", "gene", "disease"),
    "disease_disease": ("parent_child", "disease", "disease"),
    "drug_effect": ("has_side_effect", "drug", "phenotype"),
    "bioprocess_bioprocess": ("parent_child", "biological_process", "biological_process"),
    "molfunc_molfunc": ("parent_child", "molecular_function", "molecular_function"),
    "cellcomp_cellcomp": ("parent_child", "cellular_component", "cellular_component"),
    "molfunc_protein": ("participates_in", "gene", "molecular_function"),
    "cellcomp_protein": ("participates_in", "gene", "cellular_component"),
    "bioprocess_protein": ("participates_in", "gene", "biological_process"),
    "exposure_protein": ("interacts_with", "exposure", "gene"),
    "exposure_disease": ("associated_with", "exposure", "disease"),
    "exposure_exposure": ("parent_child", "exposure", "exposure"),
    "exposure_bioprocess": ("interacts_with", "exposure", "biological_process"),
    "exposure_molfunc": ("interacts_with", "exposure", "molecular_function"),
    "exposure_cellcomp": ("interacts_with", "exposure", "cellular_component"),
    "pathway_pathway": ("parent_child", "pathway", "pathway"),
    "pathway_protein": ("participates_in", "gene", "pathway"),
    "anatomy_anatomy": ("parent_child", "anatomy", "anatomy"),
    "anatomy_protein_present": ("expressed_in", "gene", "anatomy"),
    "anatomy_protein_absent": ("not_expressed_in", "gene", "anatomy"),
}

TRIPLE_COLUMNS = ["head", "relation", "tail"]
TRIPLE_OPTIONAL = ["head_type", "tail_type", "head_name", "tail_name"]


def _nodes_from(df: pl.DataFrame, *ends: tuple[str, str, str]) -> pl.DataFrame:
    """Node table from the (id, name, type) columns of each edge end; per id, the first name
    and type that some row gives (null where no row gives one)."""
    frames = [
        df.select(pl.col(i).alias("id"), pl.col(n).alias("name"), pl.col(t).alias("type"))
        for i, n, t in ends
    ]
    return (
        pl.concat(frames)
        .group_by("id", maintain_order=True)
        .agg(pl.col("name").drop_nulls().first(), pl.col("type").drop_nulls().first())
        .with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("synonyms"))
    )


def load_primekg(path: Path, name: str | None = None) -> KnowledgeGraph:
    f = TextFile.open(path)
    sep, header = sniff(f)
    require(f, header, PRIMEKG_COLUMNS, "PrimeKG")
    df = read(f, sep, PRIMEKG_COLUMNS, header)
    no_empty(f, df, ["relation", "x_id", "x_type", "y_id", "y_type"])
    # PrimeKG ids are only unique within a type/source (e.g. gene 1 vs drug 1): qualify them
    df = vocab.normalise(df, ["x_type", "y_type"], PRIMEKG_TYPES).with_columns(
        (pl.col("x_source") + ":" + pl.col("x_id")).alias("h"),
        (pl.col("y_source") + ":" + pl.col("y_id")).alias("t"),
    )
    nodes = _nodes_from(df, ("h", "x_name", "x_type"), ("t", "y_name", "y_type"))
    nodes = nodes.with_columns(
        pl.when(pl.col("name") != "").then("name").otherwise("id").alias("name")
    )
    edges = _primekg_edges(df.select("h", "relation", "t", "x_type", "y_type"))
    meta = {"source": str(path), "format": "primekg", "vocab": vocab.VOCAB_VERSION}
    return KnowledgeGraph.from_frames(name or path.stem, nodes, edges, meta, source=str(path))


def _primekg_edges(df: pl.DataFrame) -> pl.DataFrame:
    """Canonical relation names and one direction per edge (kg.csv lists both)."""
    table = PRIMEKG_RELATIONS
    rels = vocab.mapping(df["relation"], {r: spec[0] for r, spec in table.items()})
    head_type = {r: spec[1] for r, spec in table.items()}
    tail_type = {r: spec[2] for r, spec in table.items()}
    e = df.select(
        pl.col("h").alias("head"),
        pl.col("relation").replace_strict(rels, return_dtype=pl.String).alias("rel"),
        pl.col("t").alias("tail"),
        "x_type",
        "y_type",
        pl.col("relation").replace_strict(head_type, default=None).alias("ht"),
        pl.col("relation").replace_strict(tail_type, default=None).alias("tt"),
    )
    # a typed relation runs from its head type to its tail type: turn the reverse rows round
    backwards = (
        (pl.col("ht") != pl.col("tt"))
        & (pl.col("x_type") == pl.col("tt"))
        & (pl.col("y_type") == pl.col("ht"))
    )
    e = vocab.swap_where(e, backwards.fill_null(False))
    # same-type relations (interactions, parent-child) have no direction to recover: store
    # each from the smaller id, so both listings make one edge whatever the row order
    unordered = (pl.col("ht") == pl.col("tt")).fill_null(False)
    e = vocab.swap_where(e, unordered & (pl.col("tail") < pl.col("head")))
    return e.select("head", pl.col("rel").alias("relation"), "tail")


def load_triples(path: Path, name: str | None = None) -> KnowledgeGraph:
    f = TextFile.open(path)
    sep, header = sniff(f)
    require(f, header, TRIPLE_COLUMNS, "triples")
    cols = TRIPLE_COLUMNS + [c for c in TRIPLE_OPTIONAL if c in header]
    df = read(f, sep, cols, header)
    no_empty(f, df, TRIPLE_COLUMNS)
    for c in TRIPLE_OPTIONAL:
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c))
        else:  # a blank cell is no name/type, like a missing column
            blank = pl.col(c).str.strip_chars() == ""
            df = df.with_columns(pl.when(~blank).then(pl.col(c)).alias(c))
    nodes = _nodes_from(
        df, ("head", "head_name", "head_type"), ("tail", "tail_name", "tail_type")
    ).with_columns(pl.coalesce("name", "id").alias("name"), pl.col("type").fill_null("entity"))
    return KnowledgeGraph.from_frames(
        name or path.stem,
        nodes,
        df.select(TRIPLE_COLUMNS),
        {"source": str(path), "format": "triples"},
        source=str(path),
    )
