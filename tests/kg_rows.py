"""Small KGs for tests, written as rows: (id, name, type[, synonyms]) and (head, relation, tail)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from kgsynth.kg import KnowledgeGraph

NODE_SCHEMA = {
    "id": pl.String,
    "name": pl.String,
    "type": pl.String,
    "synonyms": pl.List(pl.String),
}


def kg_from_rows(
    name: str,
    nodes: Sequence[tuple[str, str, str] | tuple[str, str, str, list[str]]],
    edges: Sequence[tuple[str, str, str]],
    *,
    exact_synonyms: bool = False,
    meta: dict[str, str] | None = None,
) -> KnowledgeGraph:
    """A KnowledgeGraph from node and edge rows; `exact_synonyms` also marks every synonym
    exact (as the HPO loader does for its EXACT ones); `meta` is the KG's metadata (e.g.
    `relation_confidence`)."""
    rows = [(*n, []) if len(n) == 3 else n for n in nodes]
    frame = pl.DataFrame(rows, schema=NODE_SCHEMA, orient="row")
    if exact_synonyms:
        frame = frame.with_columns(pl.col("synonyms").alias("exact_synonyms"))
    links = pl.DataFrame(list(edges), schema=["head", "relation", "tail"], orient="row")
    return KnowledgeGraph.from_frames(name, frame, links, meta or {})
