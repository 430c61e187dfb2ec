"""The KG engine: nodes in a polars frame, adjacency in compact CSR arrays.

Each KG edge (head -relation-> tail) is stored at both ends of an undirected CSR, with its
relation id and a flag saying whether the row's node is the head, so path search can walk
either way and still report every hop in the KG's own orientation.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from kgsynth.errors import InputError

if TYPE_CHECKING:
    import networkx as nx


class KnowledgeGraph:
    def __init__(
        self,
        name: str,
        nodes: pl.DataFrame,
        relations: list[str],
        indptr: np.ndarray,
        indices: np.ndarray,
        edge_rel: np.ndarray,
        edge_fwd: np.ndarray,
        meta: dict[str, str],
        hash: str,
    ) -> None:
        self.name = name
        self.nodes = nodes
        self.relations = relations
        self.indptr = indptr
        self.indices = indices
        self.edge_rel = edge_rel
        self.edge_fwd = edge_fwd
        self.meta = meta
        self.hash = hash

    # -- sizes and per-node lookups ---------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_edges(self) -> int:
        return int(self.edge_fwd.sum())  # each directed edge has exactly one forward entry

    @cached_property
    def ids(self) -> list[str]:
        return self.nodes["id"].to_list()

    @cached_property
    def names(self) -> list[str]:
        return self.nodes["name"].to_list()

    @cached_property
    def types(self) -> list[str]:
        return self.nodes["type"].to_list()

    @cached_property
    def degree(self) -> np.ndarray:
        return np.diff(self.indptr).astype(np.int64)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {kg_id: i for i, kg_id in enumerate(self.ids)}

    def index_of(self, kg_id: str) -> int | None:
        return self._index.get(kg_id)

    # -- edges --------------------------------------------------------------------------
    def edges_between(self, u: int, v: int) -> list[tuple[str, bool]]:
        """Every edge joining u and v: (relation, u_is_head)."""
        a, b = self.indptr[u], self.indptr[u + 1]
        hit = np.nonzero(self.indices[a:b] == v)[0] + a
        return [(self.relations[int(self.edge_rel[j])], bool(self.edge_fwd[j])) for j in hit]

    def has_edge(self, head_id: str, relation: str, tail_id: str) -> bool:
        h, t = self.index_of(head_id), self.index_of(tail_id)
        if h is None or t is None:
            return False
        return (relation, True) in self.edges_between(h, t)

    def relation_confidence(self) -> dict[str, float]:
        """Confidence of each relation's edges: derived relations as the KG's meta states
        them (`relation_confidence`, JSON), every other relation 1.0 (stated by a source)."""
        stated = json.loads(self.meta.get("relation_confidence", "{}") or "{}")
        return {r: float(stated.get(r, 1.0)) for r in self.relations}

    def relations_below(self, min_confidence: float) -> frozenset[str]:
        return frozenset(r for r, c in self.relation_confidence().items() if c < min_confidence)

    def aliases(self) -> pl.DataFrame:
        """The name and every synonym of each node: idx, alias, is_name (deduplicated)."""
        nodes = self.nodes.with_row_index("idx")
        names = nodes.select("idx", pl.col("name").alias("alias"), pl.lit(True).alias("is_name"))
        syns = (
            nodes.select("idx", pl.col("synonyms").alias("alias"))
            .explode("alias")
            .drop_nulls("alias")
            .with_columns(pl.lit(False).alias("is_name"))
        )
        return (
            pl.concat([names, syns])
            .sort(["idx", "is_name"], descending=[False, True])
            .unique(["idx", "alias"], keep="first", maintain_order=True)
        )

    def edge_frame(self) -> pl.DataFrame:
        """Directed edges as a frame of node indices: head, relation id, tail."""
        heads = np.repeat(np.arange(self.n_nodes, dtype=np.int64), self.degree)
        fwd = self.edge_fwd
        return pl.DataFrame(
            {"head": heads[fwd], "rel": self.edge_rel[fwd], "tail": self.indices[fwd]}
        )

    def to_networkx(self) -> nx.MultiDiGraph:
        """A networkx copy for interop (node attrs name/type, edge attr relation)."""
        import networkx as nx

        g = nx.MultiDiGraph(name=self.name)
        g.add_nodes_from(
            (i, {"name": n, "type": t})
            for i, n, t in zip(self.ids, self.names, self.types, strict=True)
        )
        e = self.edge_frame()
        ids, rels = self.ids, self.relations
        g.add_edges_from(
            (ids[h], ids[t], {"relation": rels[r]})
            for h, r, t in zip(
                e["head"].to_list(), e["rel"].to_list(), e["tail"].to_list(), strict=True
            )
        )
        return g

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        name: str,
        nodes: pl.DataFrame,
        edges: pl.DataFrame,
        meta: dict[str, str],
        *,
        source: str = "<frames>",
    ) -> KnowledgeGraph:
        """Build from a node frame (id, name, type[, synonyms, ...]) and an edge frame
        (head, relation, tail as ids). Vectorised: joins map ids, numpy builds the CSR."""
        if "synonyms" not in nodes.columns:
            nodes = nodes.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("synonyms"))
        nodes = nodes.unique("id", keep="first", maintain_order=True).sort("id")
        idx = nodes.select(pl.col("id"), pl.int_range(pl.len(), dtype=pl.Int64).alias("i"))
        e = (
            edges.select("head", "relation", "tail")
            .join(idx.rename({"id": "head", "i": "h"}), on="head", how="left")
            .join(idx.rename({"id": "tail", "i": "t"}), on="tail", how="left")
        )
        missing = e.filter(pl.col("h").is_null() | pl.col("t").is_null())
        if missing.height:
            row = missing.row(0, named=True)
            bad = row["head"] if row["h"] is None else row["tail"]
            raise InputError(
                source, f"edge refers to unknown node id '{bad}' ({missing.height} such edges)"
            )
        relations = sorted(e["relation"].unique().to_list())
        rel_ids = pl.DataFrame(
            {"relation": relations, "r": np.arange(len(relations), dtype=np.int16)},
            schema={"relation": pl.String, "r": pl.Int16},  # typed even with no edges
        )
        e = e.join(rel_ids, on="relation", how="left").filter(
            pl.col("h") != pl.col("t")  # self-loops carry no path information
        )
        n, n_rel = nodes.height, max(len(relations), 1)
        if 2 * n * n * n_rel >= 2**63:
            raise InputError(source, f"graph too large to index ({n} nodes, {n_rel} relations)")
        # One int64 key per edge instead of multi-column sorts: (head, tail, relation) packed,
        # so dedup and ordering are single-array numpy sorts (PrimeKG: 8 M rows in ~1 s).
        fwd_key = np.unique((e["h"].to_numpy() * n + e["t"].to_numpy()) * n_rel + e["r"].to_numpy())
        del e
        h, rest = np.divmod(fwd_key, n * n_rel)
        t, r = np.divmod(rest, n_rel)
        # CSR entries at both ends, sorted by (row node, neighbour, relation, head-end first)
        both = np.concatenate([fwd_key * 2, ((t * n + h) * n_rel + r) * 2 + 1])
        both.sort()
        row_col_rel, back = np.divmod(both, 2)
        del both
        rows_cols, rel = np.divmod(row_col_rel, n_rel)
        rows, cols = np.divmod(rows_cols, n)
        del row_col_rel, rows_cols
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        kg_hash = content_hash(nodes, h, r, t, relations)
        return cls(
            name=name,
            nodes=nodes,
            relations=relations,
            indptr=indptr,
            indices=cols.astype(np.int32),
            edge_rel=rel.astype(np.int16),
            edge_fwd=back == 0,
            meta=dict(meta),
            hash=kg_hash,
        )


def content_hash(
    nodes: pl.DataFrame, h: np.ndarray, r: np.ndarray, t: np.ndarray, relations: list[str]
) -> str:
    """sha256 over sorted node ids/names/types/synonyms and the sorted edge arrays.

    Synonyms count: they are what the linker matches, and the on-disk graph store finds a
    graph by this hash, so two graphs that differed only in synonyms would share a file."""
    d = hashlib.sha256()
    for col in ("id", "name", "type"):
        d.update("\x1f".join(nodes[col].to_list()).encode())
        d.update(b"\x1e")
    if "synonyms" in nodes.columns:
        syn = nodes["synonyms"].list.sort().list.join("\x1d").fill_null("")  # any order
        d.update("\x1f".join(syn.to_list()).encode())
        d.update(b"\x1e")
    d.update("\x1f".join(relations).encode())
    for arr in (h, r, t):
        d.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
    return d.hexdigest()
