"""Hetionet, as its nodes TSV + edges SIF or as hetnet JSON, mapped onto kgsynth's vocabulary.

Node ids keep Hetionet's own "Kind::identifier" form ("Gene::1017", "Disease::DOID:1234").
Kinds and metaedges are mapped onto kgsynth's vocabulary (kgsynth/kg/vocab.py) by the tables
below.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from kgsynth.errors import InputError
from kgsynth.kg import vocab
from kgsynth.kg.delimited import TextFile, known_ids, read_bytes, read_table
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.kg.jsondoc import JsonDoc

# -- the vocabulary: node kinds and the 24 metaedges of Hetionet v1.0 ---------------------------
# (bump kgsynth.kg.vocab.VOCAB_VERSION when a mapping changes)

HETIONET_KINDS: dict[str, str] = {
    "Anatomy": "anatomy",
    "Biological Process": "biological_process",
    "Cellular Component": "cellular_component",
    "Compound": "drug",
    "Disease": "disease",
    "Gene": "gene",
    "Molecular Function": "molecular_function",
    "Pathway": "pathway",
    "Pharmacologic Class": "pharmacologic_class",
    "Side Effect": "phenotype",
    "Symptom": "phenotype",
}

# abbreviation -> (source kind, Hetionet's verb, target kind, canonical relation, reversed).
# "reversed" marks the metaedges whose canonical direction is target -> source.
HETIONET_METAEDGES: dict[str, tuple[str, str, str, str, bool]] = {
    "AdG": ("Anatomy", "downregulates", "Gene", "downregulates", False),
    "AeG": ("Anatomy", "expresses", "Gene", "expressed_in", True),
    "AuG": ("Anatomy", "upregulates", "Gene", "upregulates", False),
    "CbG": ("Compound", "binds", "Gene", "targets", False),
    "CcSE": ("Compound", "causes", "Side Effect", "has_side_effect", False),
    "CdG": ("Compound", "downregulates", "Gene", "downregulates", False),
    "CpD": ("Compound", "palliates", "Disease", "palliates", False),
    "CrC": ("Compound", "resembles", "Compound", "resembles", False),
    "CtD": ("Compound", "treats", "Disease", "treats", False),
    "CuG": ("Compound", "upregulates", "Gene", "upregulates", False),
    "DaG": ("Disease", "associates", "Gene", "associated_with", True),
    "DdG": ("Disease", "downregulates", "Gene", "downregulates", False),
    "DlA": ("Disease", "localizes", "Anatomy", "localizes_to", False),
    "DpS": ("Disease", "presents", "Symptom", "has_phenotype", False),
    "DrD": ("Disease", "resembles", "Disease", "resembles", False),
    "DuG": ("Disease", "upregulates", "Gene", "upregulates", False),
    "GcG": ("Gene", "covaries", "Gene", "covaries_with", False),
    "GiG": ("Gene", "interacts", "Gene", "interacts_with", False),
    "GpBP": ("Gene", "participates", "Biological Process", "participates_in", False),
    "GpCC": ("Gene", "participates", "Cellular Component", "participates_in", False),
    "GpMF": ("Gene", "participates", "Molecular Function", "participates_in", False),
    "GpPW": ("Gene", "participates", "Pathway", "participates_in", False),
    "Gr>G": ("Gene", "regulates", "Gene", "regulates", False),
    "PCiC": ("Pharmacologic Class", "includes", "Compound", "includes", False),
}


def metaedge_frame() -> pl.DataFrame:
    """HETIONET_METAEDGES as a frame, to join edges on."""
    rows = [(abbrev, *spec) for abbrev, spec in HETIONET_METAEDGES.items()]
    return pl.DataFrame(
        rows,
        schema={
            "metaedge": pl.String,
            "source_kind": pl.String,
            "verb": pl.String,
            "target_kind": pl.String,
            "relation": pl.String,
            "reverse": pl.Boolean,
        },
        orient="row",
    )


# -- nodes TSV + edges SIF ---------------------------------------------------------------------

NODE_COLUMNS = ["id", "name", "kind"]
EDGE_COLUMNS = ["source", "metaedge", "target"]


def _meta(files: list[Path], fmt: str) -> dict[str, str]:
    return {
        "source": ", ".join(str(p) for p in files),
        "format": fmt,
        "vocab": vocab.VOCAB_VERSION,
    }


def _named(df: pl.DataFrame) -> pl.DataFrame:
    # a node without a name shows its id, so a path line never has a blank step
    name = pl.col("name").fill_null("")
    return df.with_columns(pl.when(name.str.strip_chars() != "").then(name).otherwise("id"))


def load_hetionet_tsv(nodes_path: Path, edges_path: Path, name: str) -> KnowledgeGraph:
    _, nodes = read_table(nodes_path, NODE_COLUMNS, [], "Hetionet nodes", non_empty=["id", "kind"])
    ef, edges = read_table(edges_path, EDGE_COLUMNS, [], "Hetionet edges (SIF)")
    nodes = (
        _named(nodes.with_columns(pl.col("id").str.strip_chars()))
        .with_columns(pl.col("kind").alias("type"))
        .pipe(vocab.normalise, ["type"], HETIONET_KINDS)
        .select("id", "name", "type", "kind")
    )
    edges = _sif_edges(ef, edges.with_row_index("row"), nodes)
    return KnowledgeGraph.from_frames(
        name,
        nodes.drop("kind"),
        edges,
        _meta([nodes_path, edges_path], "hetionet"),
        source=ef.name,
    )


def _refuse_first(
    ef: TextFile, bad: pl.DataFrame, field: str, message: Callable[[dict[str, Any]], str]
) -> None:
    """An InputError naming the first bad row's line (header + 1-based) and field."""
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(ef.name, message(row), line=int(row["row"]) + 2, field=field)


def _sif_edges(ef: TextFile, edges: pl.DataFrame, nodes: pl.DataFrame) -> pl.DataFrame:
    e = edges.with_columns(pl.col(c).str.strip_chars() for c in EDGE_COLUMNS).join(
        metaedge_frame(), on="metaedge", how="left"
    )
    unknown = e.filter(pl.col("relation").is_null())
    _refuse_first(
        ef,
        unknown,
        "metaedge",
        lambda row: (
            f"unknown metaedge abbreviation '{row['metaedge']}' ({unknown.height} such "
            f"rows); Hetionet v1.0 has {', '.join(sorted(HETIONET_METAEDGES))}"
        ),
    )
    for col in ("source", "target"):
        known_ids(ef, e, col, nodes["id"], "nodes file")
    kinds = nodes.select("id", "kind")
    e = e.join(kinds.rename({"id": "source", "kind": "sk"}), on="source", how="left").join(
        kinds.rename({"id": "target", "kind": "tk"}), on="target", how="left"
    )
    for col, want, got in (("source", "source_kind", "sk"), ("target", "target_kind", "tk")):
        _refuse_first(
            ef,
            e.filter(pl.col(want) != pl.col(got)),
            col,
            lambda row, col=col, want=want, got=got: (
                f"metaedge {row['metaedge']} needs a "
                f"{row[want]} {col}, but {row[col]} is a {row[got]}"
            ),
        )
    e = e.rename({"source": "head", "target": "tail"})
    return vocab.swap_where(e, pl.col("reverse")).select("head", "relation", "tail")


# -- hetnet JSON -------------------------------------------------------------------------------

_NODE = pl.Struct({"kind": pl.String, "identifier": pl.String, "name": pl.String})
_EDGE = pl.Struct(
    {
        "source_id": pl.List(pl.String),
        "target_id": pl.List(pl.String),
        "kind": pl.String,
        "direction": pl.String,
    }
)
# only what the KG needs: polars skips the rest ("data" properties, the metagraph), and
# reads integer identifiers (Hetionet's genes) as strings
_SCHEMA = {"nodes": pl.List(_NODE), "edges": pl.List(_EDGE)}


def load_hetionet_json(path: Path, name: str) -> KnowledgeGraph:
    doc = JsonDoc(path, read_bytes(path))
    top = doc.read_polars(_SCHEMA)
    for key in _SCHEMA:
        if top[key][0] is None:
            raise InputError(str(path), f"not hetnet JSON: no top-level '{key}' array", field=key)
    nodes = top.select(pl.col("nodes").explode()).unnest("nodes").with_row_index("i")
    edges = top.select(pl.col("edges").explode()).unnest("edges").with_row_index("i")
    doc.require(nodes, "nodes", ["kind", "identifier"])
    doc.require(edges, "edges", ["source_id", "target_id", "kind"])
    for col in ("source_id", "target_id"):
        doc.fail_where(edges, pl.col(col).list.len() != 2, "edges", col, "must be [kind, id]")
    nodes = _named(
        nodes.with_columns(
            (pl.col("kind") + "::" + pl.col("identifier")).alias("id"), pl.col("kind").alias("type")
        )
    ).pipe(vocab.normalise, ["type"], HETIONET_KINDS)
    nodes = nodes.select("id", "name", "type")
    e = edges.select(
        "i",
        pl.col("source_id").list.get(0).alias("sk"),
        (pl.col("source_id").list.get(0) + "::" + pl.col("source_id").list.get(1)).alias("head"),
        pl.col("kind").alias("verb"),
        pl.col("target_id").list.get(0).alias("tk"),
        (pl.col("target_id").list.get(0) + "::" + pl.col("target_id").list.get(1)).alias("tail"),
    )
    for col, field in (("head", "source_id"), ("tail", "target_id")):
        doc.fail_where(
            e, ~pl.col(col).is_in(nodes["id"].implode()), "edges", field, "edge to unknown node"
        )
    return KnowledgeGraph.from_frames(
        name, nodes, _json_relations(e), _meta([path], "hetionet-json"), source=str(path)
    )


def _json_relations(e: pl.DataFrame) -> pl.DataFrame:
    """Relation names by metaedge (source kind, verb, target kind), stored either way round;
    an unknown metaedge keeps its verb, lower-snake-cased, and its direction."""
    table = metaedge_frame()
    fwd = table.select(
        pl.col("source_kind").alias("sk"),
        "verb",
        pl.col("target_kind").alias("tk"),
        "relation",
        pl.col("reverse").alias("swap"),
    )
    # an edge stored target -> source is turned round once more than its metaedge says
    back = fwd.select(
        pl.col("tk").alias("sk"), "verb", pl.col("sk").alias("tk"), "relation", ~pl.col("swap")
    )
    # same-kind metaedges (GiG) read the same both ways: the forward row wins
    lookup = pl.concat([fwd, back]).unique(["sk", "verb", "tk"], keep="first")
    verbs = vocab.mapping(e["verb"], {})
    e = e.join(lookup, on=["sk", "verb", "tk"], how="left").with_columns(
        pl.coalesce("relation", pl.col("verb").replace_strict(verbs, return_dtype=pl.String))
    )
    return vocab.swap_where(e, pl.col("swap").fill_null(False)).select("head", "relation", "tail")
