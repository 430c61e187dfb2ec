"""The linker's view of a KG: which aliases may be matched, keyed for lookup.

Mirrors scispaCy's KnowledgeBase (concept id -> entity, alias -> concept ids) and builds one
from the KG, so scispaCy's CandidateGenerator can rank candidates over it.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scispacy.linking_utils import Entity, KnowledgeBase
from spacy.lang.en.stop_words import STOP_WORDS

from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.linking.normalise import norm_key


def descendants(kg: KnowledgeGraph, roots: list[str], relation: str = "is_a") -> set[int]:
    """Nodes under `roots` along `relation` (child -is_a-> parent), roots included."""
    if relation not in kg.relations:
        return set()
    rel_id = kg.relations.index(relation)
    seen = {i for r in roots if (i := kg.index_of(r)) is not None}
    frontier = np.array(sorted(seen), np.int64)
    while len(frontier):
        starts, ends = kg.indptr[frontier], kg.indptr[frontier + 1]
        nxt: list[int] = []
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            sel = (kg.edge_rel[a:b] == rel_id) & ~kg.edge_fwd[a:b]  # row node is the parent
            nxt.extend(int(c) for c in kg.indices[a:b][sel] if int(c) not in seen)
        seen.update(nxt)
        frontier = np.array(sorted(set(nxt)), np.int64)
    return seen


def alias_frame(
    kg: KnowledgeGraph,
    *,
    exclude_ids: list[str],
    exclude_subtrees: list[str],
    exact_synonyms_only: bool = True,
) -> pl.DataFrame:
    """One row per (node, alias) the linker may use: columns idx, alias, key, is_name.

    Drops aliases that are stop words or shorter than 3 characters, and nodes that are
    bookkeeping rather than medicine (HPO's frequency/onset modifiers, the ontology roots).
    """
    nodes = kg.nodes.with_row_index("idx")
    syn_col = (
        "exact_synonyms"
        if exact_synonyms_only and "exact_synonyms" in nodes.columns
        else "synonyms"
    )
    names = nodes.select("idx", pl.col("name").alias("alias"), pl.lit(True).alias("is_name"))
    syns = (
        nodes.select("idx", pl.col(syn_col).alias("alias"))
        .explode("alias")
        .drop_nulls("alias")
        .with_columns(pl.lit(False).alias("is_name"))
    )
    syns = pl.concat([syns, _disease_base_names(nodes)])
    excluded = descendants(kg, exclude_subtrees) | {
        i for x in exclude_ids if (i := kg.index_of(x)) is not None
    }
    frame = (
        pl.concat([names, syns])
        .filter(~pl.col("idx").is_in(sorted(excluded)))
        .with_columns(pl.col("alias").str.strip_chars())
        .filter(pl.col("alias").str.len_chars() >= 3)
        .with_columns(pl.col("alias").map_elements(norm_key, return_dtype=pl.String).alias("key"))
        .filter((pl.col("key").str.len_chars() >= 3) & ~pl.col("key").is_in(sorted(STOP_WORDS)))
        # a node keeps one row per key; the name row wins over a synonym with the same key
        .sort(["idx", "is_name"], descending=[False, True])
        .unique(["idx", "key"], keep="first", maintain_order=True)
    )
    return frame


# Comma-separated OMIM qualifiers that do not change what the base name denotes. Anything
# else ("Heart, malformation of", "Leiomyoma, uterine") keeps the full name only, and so
# does a subtype ("Ehlers-Danlos syndrome, type I" is not Ehlers-Danlos syndrome at large).
_QUALIFIER = (
    r"autosomal (?:recessive|dominant)|[xy]-linked(?: recessive| dominant)?|familial"
    r"|susceptibility to|primary|somatic|digenic|mitochondrial|juvenile|adult|infantile"
    r"|congenital|(?:early|late|adult|childhood|juvenile)-onset|\d+[a-z]?"
)
_QUALIFIERS_ONLY = rf"(?i)^(?:\s*[,;]\s*(?:{_QUALIFIER}))+\s*$"


def _disease_base_names(nodes: pl.DataFrame) -> pl.DataFrame:
    """OMIM-style names carry qualifiers ("Psoriatic arthritis, susceptibility to, 1"):
    offer the base name as a synonym when the rest is only qualifiers and exactly one disease
    yields it, so a family name never links to one arbitrary subtype."""
    base = (
        nodes.filter(pl.col("type") == "disease")
        .select(
            "idx",
            pl.col("name").str.replace(r"[,;].*$", "").str.strip_chars().alias("alias"),
            pl.col("name").str.extract(r"([,;].*)$").alias("rest"),
        )
        .filter(
            pl.col("rest").str.contains(_QUALIFIERS_ONLY) & (pl.col("alias").str.len_chars() >= 3)
        )
    )
    # never shadow a name or synonym some node already has
    taken = pl.concat(
        [
            nodes.select(pl.col("name").str.to_lowercase().alias("a")),
            nodes.select(pl.col("synonyms").explode().str.to_lowercase().alias("a")),
        ]
    ).to_series()
    return (
        base.filter(pl.col("alias").str.to_lowercase().is_in(taken.implode()).not_())
        .filter(pl.len().over(pl.col("alias").str.to_lowercase()) == 1)
        .select("idx", "alias", pl.lit(False).alias("is_name"))
    )


def scispacy_kb(kg: KnowledgeGraph, aliases: pl.DataFrame) -> KnowledgeBase:
    """A scispaCy KnowledgeBase whose aliases are the KG's (raw, not normalised) alias strings."""
    grouped = aliases.group_by("idx", maintain_order=True).agg(pl.col("alias"))
    entities = [
        Entity(
            concept_id=kg.ids[i], canonical_name=kg.names[i], aliases=list(als), types=[kg.types[i]]
        )
        for i, als in zip(grouped["idx"].to_list(), grouped["alias"].to_list(), strict=True)
    ]
    return KnowledgeBase(entities)
