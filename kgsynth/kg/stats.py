"""What a KG is made of: nodes by type, edges by relation and end types, degrees."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from kgsynth.kg.graph import KnowledgeGraph


@dataclass(frozen=True)
class DegreeSummary:
    """Edges per node, counting both ends of every edge."""

    mean: float
    median: float
    p99: float
    max: int
    max_node: str  # a node with the highest degree, as "name (id)"


def node_types(kg: KnowledgeGraph) -> pl.DataFrame:
    """type, nodes: most common first."""
    return (
        kg.nodes.group_by("type")
        .agg(pl.len().alias("nodes"))
        .sort(["nodes", "type"], descending=[True, False])
    )


def relation_types(kg: KnowledgeGraph) -> pl.DataFrame:
    """relation, head_type, tail_type, edges: one row per relation and pair of end types."""
    types = pl.Series("t", kg.types, dtype=pl.String)
    e = kg.edge_frame()
    return (
        pl.DataFrame(
            {
                "relation": pl.Series(kg.relations, dtype=pl.String).gather(e["rel"]),
                "head_type": types.gather(e["head"]),
                "tail_type": types.gather(e["tail"]),
            },
            schema={"relation": pl.String, "head_type": pl.String, "tail_type": pl.String},
        )
        .group_by("relation", "head_type", "tail_type")
        .agg(pl.len().alias("edges"))
        .sort(
            ["edges", "relation", "head_type", "tail_type"], descending=[True, False, False, False]
        )
    )


def degree_summary(kg: KnowledgeGraph) -> DegreeSummary:
    deg = kg.degree
    if not len(deg):
        return DegreeSummary(0.0, 0.0, 0.0, 0, "")
    top = int(np.argmax(deg))
    return DegreeSummary(
        mean=float(deg.mean()),
        median=float(np.median(deg)),
        p99=float(np.percentile(deg, 99)),
        max=int(deg[top]),
        max_node=f"{kg.names[top]} ({kg.ids[top]})",
    )
