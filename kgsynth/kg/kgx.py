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
        .with_columns(vocab.biolink_term(pl.col("category")).alias("term"))
        .filter(pl.col("term") != "")
        .with_columns(pl.col("term").alias("type"), pl.int_range(pl.len()).over("n").alias("pos"))
        .pipe(vocab.normalise, ["type"], vocab.BIOLINK_CATEGORIES)
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
    e = edges.with_columns(vocab.biolink_term(pl.col("predicate")).alias("term"))
    table = vocab.BIOLINK_PREDICATES
    rels = vocab.mapping(e["term"], {p: rel for p, (rel, _) in table.items()})
    reverse = {p: rev for p, (_, rev) in table.items()}
    # a negated edge asserts absence: never let it read as the positive relation
    negated_rels = {r: vocab.NEGATED.get(r, f"not_{r}") for r in rels.values()}
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


def _pipe_list(expr: pl.Expr) -> pl.Expr:
    items = expr.str.split("|").list.eval(pl.element().str.strip_chars())
    return items.list.filter(pl.element() != "")
