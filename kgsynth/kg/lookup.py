"""Find a node from what a person types: its KG id, or its exact name in any case."""

from __future__ import annotations

import polars as pl

from kgsynth.errors import KGSynthError
from kgsynth.kg.graph import KnowledgeGraph

MAX_LISTED = 10


class NodeNotFoundError(KGSynthError):
    """No node has that id or name."""


class AmbiguousNodeError(KGSynthError):
    """Several nodes share that name: the message lists them, to pick one by id."""

    def __init__(self, message: str, choices: list[tuple[str, str, str]]) -> None:
        super().__init__(message)
        self.choices = choices  # (id, name, type)


def find_node(kg: KnowledgeGraph, query: str) -> int:
    """The node index for an id, else for a name compared case-insensitively."""
    q = query.strip()
    idx = kg.index_of(q)
    if idx is not None:
        return idx
    nodes = kg.nodes.select("id", "name", "type").with_row_index("idx")
    hits = nodes.filter(pl.col("name").str.to_lowercase() == q.lower())
    if hits.height == 0:  # ids are case-sensitive in the KG, but people type hp:0001250
        hits = nodes.filter(pl.col("id").str.to_lowercase() == q.lower())
    if hits.height == 1:
        return int(hits["idx"][0])
    if hits.height > 1:
        choices = [(r["id"], r["name"], r["type"]) for r in hits.iter_rows(named=True)]
        listed = "; ".join(f"{i} ({n}, {t})" for i, n, t in choices[:MAX_LISTED])
        more = f"; and {len(choices) - MAX_LISTED} more" if len(choices) > MAX_LISTED else ""
        raise AmbiguousNodeError(
            f"'{q}' names {len(choices)} nodes in KG '{kg.name}': {listed}{more}. "
            "Give one of these ids instead",
            choices,
        )
    near = nodes.filter(pl.col("name").str.to_lowercase().str.contains(q.lower(), literal=True))
    hint = ""
    if near.height:
        shown = ", ".join(f"{n} ({i})" for i, n in near.head(5).select("id", "name").iter_rows())
        hint = f"; names containing it: {shown}" + (", ..." if near.height > 5 else "")
    raise NodeNotFoundError(f"no node with id or name '{q}' in KG '{kg.name}'{hint}")
