"""One node per concept: nodes that sources state to be the same (cross-references) merge.

Two guards keep unrelated concepts apart. A cross-reference counts only when it is one to
one (a MeSH descriptor that three MONDO diseases cite is broader than each of them, so it
merges with none). And a merged node holds at most one id per vocabulary: two MONDO terms,
or two MeSH descriptors, are two concepts by their own source's word, whatever chain of
cross-references joins them (the union that would join them is refused). Synonyms never
merge anything: only stated ids do.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# which member names the merged node (its id, its type), and which member's name it shows
ID_PRIORITY = (
    "HP",
    "OMIM",
    "ORPHA",
    "DECIPHER",
    "NCBIGene",
    "MONDO",
    "MESH",
    "DRUGBANK",
    "CHEBI",
    "DRUGNER",
)
NAME_PRIORITY = (
    "HP",
    "MESH",
    "DRUGBANK",
    "MONDO",
    "ORPHA",
    "OMIM",
    "DECIPHER",
    "NCBIGene",
    "CHEBI",
    "DRUGNER",
)


def prefix(node_id: str) -> str:
    return node_id.split(":", 1)[0]


def _rank(order: tuple[str, ...]) -> pl.Expr:
    table = {p: i for i, p in enumerate(order)}
    return (
        pl.col("id")
        .str.split(":")
        .list.first()
        .replace_strict(table, default=len(order), return_dtype=pl.Int32)
    )


@dataclass
class MergeReport:
    pairs_stated: int  # cross-references between two nodes medkg has
    pairs_not_one_to_one: int
    pairs_refused: int  # would have put two ids of one vocabulary into one node
    merged: int  # unions made


def one_to_one(pairs: pl.DataFrame) -> pl.DataFrame:
    """The pairs (a, b) where a has no other partner in b's vocabulary and b none in a's."""
    p = pairs.with_columns(
        pl.col("a").str.split(":").list.first().alias("pa"),
        pl.col("b").str.split(":").list.first().alias("pb"),
    ).unique(["a", "b"], maintain_order=True)
    return p.filter(
        (pl.col("b").n_unique().over("a", "pb") == 1)
        & (pl.col("a").n_unique().over("b", "pa") == 1)
    ).select("a", "b", "source")


def components(pairs: pl.DataFrame) -> tuple[dict[str, str], int]:
    """Union-find over the pairs in order; returns id -> root id and the refused count."""
    parent: dict[str, str] = {}
    vocabs: dict[str, set[str]] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    refused = 0
    for a, b in zip(pairs["a"].to_list(), pairs["b"].to_list(), strict=True):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        va = vocabs.setdefault(ra, {prefix(ra)})
        vb = vocabs.setdefault(rb, {prefix(rb)})
        if va & vb:
            refused += 1
            continue
        parent[rb] = ra
        va |= vb
        vocabs.pop(rb, None)
    return {x: find(x) for x in parent}, refused


def merge_nodes(
    nodes: pl.DataFrame, edges: pl.DataFrame, xrefs: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, MergeReport]:
    """Merge nodes (id, name, type, synonyms; one id may come from several sources) along the
    cross-references; edges are moved onto the merged ids. Each merged node keeps every
    member id in `xrefs` and every member name among its synonyms."""
    known = nodes["id"].unique().implode()
    stated = xrefs.filter(
        pl.col("a").is_in(known) & pl.col("b").is_in(known) & (pl.col("a") != pl.col("b"))
    )
    kept = one_to_one(stated)
    # deterministic union order: by the better-ranked vocabulary first
    kept = kept.sort(["source", "a", "b"])
    roots, refused = components(kept)
    members = pl.DataFrame(
        {"id": list(roots), "root": list(roots.values())},
        schema={"id": pl.String, "root": pl.String},
    )
    ranked = (
        nodes.join(members, on="id", how="left")
        .with_columns(pl.coalesce("root", "id").alias("root"))
        .with_columns(_rank(ID_PRIORITY).alias("id_rank"), _rank(NAME_PRIORITY).alias("name_rank"))
    )
    canon = (
        ranked.sort(["root", "id_rank", "id"])
        .group_by("root", maintain_order=True)
        .agg(pl.col("id").first().alias("canon"), pl.col("type").first().alias("type"))
    )
    named = (
        ranked.sort(["root", "name_rank", "id"])
        .group_by("root", maintain_order=True)
        .agg(
            pl.col("name").first().alias("name"),
            pl.col("name").alias("names"),
            pl.col("synonyms").explode(keep_nulls=False, empty_as_null=False).alias("syns"),
            pl.col("id").unique(maintain_order=True).sort().alias("xrefs"),
        )
    )
    merged = (
        canon.join(named, on="root")
        .with_columns(
            pl.concat_list("names", "syns")
            .list.eval(pl.element().filter(pl.element().is_not_null()))
            .list.unique(maintain_order=True)
            .alias("synonyms")
        )
        .with_columns(
            pl.col("synonyms").list.set_difference(pl.concat_list(pl.col("name"))).alias("synonyms")
        )
        .select(pl.col("canon").alias("id"), "name", "type", "synonyms", "xrefs")
    )
    to_canon = (
        ranked.select("id", "root")
        .unique("id")
        .join(canon.select("root", "canon"), on="root")
        .select("id", "canon")
    )
    moved = (
        edges.join(to_canon.rename({"id": "head"}), on="head", how="inner")
        .with_columns(pl.col("canon").alias("head"))
        .drop("canon")
        .join(to_canon.rename({"id": "tail"}), on="tail", how="inner")
        .with_columns(pl.col("canon").alias("tail"))
        .drop("canon")
        .filter(pl.col("head") != pl.col("tail"))
        .unique(["head", "relation", "tail"], keep="first", maintain_order=True)
    )
    report = MergeReport(
        pairs_stated=stated.unique(["a", "b"]).height,
        pairs_not_one_to_one=stated.unique(["a", "b"]).height - kept.height,
        pairs_refused=refused,
        merged=ranked.height - merged.height,
    )
    return merged, moved, report


def word_bag(expr: pl.Expr) -> pl.Expr:
    """A name's words, lower-cased and sorted: "Arthritis, Rheumatoid" is "arthritis
    rheumatoid", as is "Rheumatoid arthritis"."""
    return (
        expr.str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars()
        .str.split(" ")
        .list.sort()
        .list.join(" ")
    )


def drop_inverted(nodes: pl.DataFrame) -> pl.DataFrame:
    """Drop synonyms that are only an inverted form of another alias of the same node
    ("Pressure, High Blood" beside "High Blood Pressure"): MeSH lists them for indexes,
    text never says them, and they would grow the alias index by a quarter."""
    labels = node_labels(nodes).with_columns(
        pl.col("label").str.contains(",").alias("comma"), word_bag(pl.col("label")).alias("bag")
    )
    twins = labels.filter(~pl.col("comma")).select("id", "bag").unique()
    kept = (
        labels.filter(~pl.col("is_name"))
        .join(
            twins.with_columns(pl.lit(True).alias("twin")),
            on=["id", "bag"],
            how="left",
            maintain_order="left",
        )  # fmt: skip
        .filter(~(pl.col("comma") & pl.col("twin").fill_null(False)))
        .group_by("id", maintain_order=True)
        .agg(pl.col("label").alias("synonyms"))
    )
    return (
        nodes.drop("synonyms")
        .join(kept, on="id", how="left")
        .with_columns(pl.col("synonyms").fill_null(pl.lit([], dtype=pl.List(pl.String))))
        .select(nodes.columns)
    )


def node_labels(nodes: pl.DataFrame) -> pl.DataFrame:
    """Every name and synonym of every node: id, type, label, is_name, in the order names
    first (node order), then synonyms (node order)."""
    indexed = nodes.with_row_index("row")
    names = indexed.select(
        "row", "id", "type", pl.col("name").alias("label"), pl.lit(True).alias("is_name")
    )
    syns = (
        indexed.select("row", "id", "type", pl.col("synonyms").alias("label"))
        .explode("label")
        .drop_nulls("label")
        .with_columns(pl.lit(False).alias("is_name"))
    )
    return (
        pl.concat([names, syns])
        .sort(["is_name", "row"], descending=[True, False], maintain_order=True)
        .drop("row")
    )
