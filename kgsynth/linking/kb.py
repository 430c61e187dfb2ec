"""The linker's view of a KG: which aliases may be matched, keyed for lookup.

Mirrors scispaCy's KnowledgeBase (concept id -> entity, alias -> concept ids) and builds one
from the KG, so scispaCy's CandidateGenerator can rank candidates over it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from kgsynth import cache_layout, manifest
from kgsynth.atomic import staged_folder
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.linking.normalise import STOP_WORDS, content_tokens, norm_key, raw_tokens, word_bag
from kgsynth.linking.scispacy_import import Entity, KnowledgeBase


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
    """One row per (node, alias) the linker may use: columns idx, alias, key, is_name,
    acronym, bag (the key's `word_bag`, null when it has none).

    Drops aliases that are stop words or shorter than 3 characters, loose synonyms (see
    `loose_synonym`), and nodes that are bookkeeping rather than medicine (HPO's
    frequency/onset modifiers, the ontology roots). Adds the bare form of a synonym that
    says it is the unspecified concept ("Generalized tonic-clonic seizure (without
    specification of onset)"). `acronym`: every alias behind the row's key is written in
    capitals ("ODD", "ALS"), so only a mention in capitals may match it (see `is_acronym`).
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
    syns = pl.concat([syns, _disease_base_names(nodes), _unspecified_base_names(nodes, syn_col)])
    names_of = nodes["name"].to_list()
    syns = syns.filter(
        pl.struct("idx", "alias")
        .map_elements(
            lambda r: not loose_synonym(r["alias"], names_of[r["idx"]]), return_dtype=pl.Boolean
        )
        .fill_null(True)
    )
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
        # (a column of its own first: a window inside the (idx, key) window below would see
        # only the aliases of one key)
        .with_columns(_short_name_of_syndrome(names_of).alias("short_name"))
        .with_columns(
            (
                pl.col("alias").map_elements(is_acronym, return_dtype=pl.Boolean)
                | pl.col("short_name")
            )
            .all()
            .over(["idx", "key"])
            .alias("acronym")
        )
        .drop("short_name")
        # a node keeps one row per key; the name row wins over a synonym with the same key
        .sort(["idx", "is_name"], descending=[False, True])
        .unique(["idx", "key"], keep="first", maintain_order=True)
    )
    # the key's word-order form (normalise.word_bag), for answers written in another order:
    # made here, once per cached frame, not by each linker (seconds on medkg)
    bags = (
        frame.select("key")
        .unique()
        .with_columns(pl.col("key").map_elements(word_bag, return_dtype=pl.String).alias("bag"))
    )
    return frame.join(bags, on="key", how="left", maintain_order="left")


# what alias_frame's result depends on besides the KG and its arguments: this module, the
# normaliser, the loose-synonym rules and spaCy's stop words
_ALIAS_SOURCES = (Path(__file__), Path(__file__).with_name("normalise.py"))


@cache
def _alias_code_hash() -> str:
    h = hashlib.sha256()
    for path in (*_ALIAS_SOURCES, Path(__file__).with_name("loose_synonyms.toml")):
        h.update(path.read_bytes())
    h.update("\n".join(sorted(STOP_WORDS)).encode())
    h.update(pl.__version__.encode())
    return h.hexdigest()


ALIAS_KIND = cache_layout.ALIASES
ALIAS_FORMAT = cache_layout.ALIASES_VERSION
ALIAS_FILE = "aliases.parquet"


def cached_alias_frame(
    kg: KnowledgeGraph,
    cache_dir: Path,
    *,
    exclude_ids: list[str],
    exclude_subtrees: list[str],
) -> pl.DataFrame:
    """`alias_frame`, kept as Parquet under cache_dir/aliases: making it normalises every
    alias in Python (about a second on HPO, in every process that links). The entry is keyed
    by the KG's content, the arguments and the code that makes the frame, so a change to
    any of them makes a new one; its manifest is checked on read, and a damaged entry is
    discarded with a warning and made again."""
    spec = json.dumps([kg.hash, exclude_ids, exclude_subtrees, _alias_code_hash()])
    folder = cache_layout.alias_root(cache_dir) / hashlib.sha256(spec.encode()).hexdigest()[:24]
    cached = manifest.load_checked(
        folder, ALIAS_KIND, ALIAS_FORMAT, "alias table", lambda f: pl.read_parquet(f / ALIAS_FILE)
    )
    if cached is not None:
        return cached
    frame = alias_frame(kg, exclude_ids=exclude_ids, exclude_subtrees=exclude_subtrees)
    try:
        with staged_folder(folder) as tmp:  # readers see the whole entry or none
            frame.write_parquet(tmp / ALIAS_FILE)
            manifest.write(tmp, ALIAS_KIND, ALIAS_FORMAT, about={"kg": kg.hash})
    except OSError:
        pass  # a read-only cache: the frame is made again next time
    return frame


def is_acronym(alias: str) -> bool:
    """An alias written as a short form: one word, no lower-case letter, at least two
    letters ("ODD", "ADHD", "HIV-1"). Such an alias matches only a mention written in
    capitals, or the ordinary word ("odd", "als") would link it."""
    alias = alias.strip()
    return (
        " " not in alias
        and not any(c.islower() for c in alias)
        and sum(c.isalpha() for c in alias) >= 2
    )


SHORT_NAME_MAX = 6  # letters of a one-word short name ("SOFT", "chILD")


def _short_name_of_syndrome(names_of: list[str]) -> pl.Expr:
    """Whether an alias is a short name that a source wrote in lower case (MONDO has "soft"
    and "soft syndrome" for "short stature-onychodysplasia-facial dysmorphism-hypotrichosis
    syndrome", "chILD" for childhood interstitial lung disease): one word of at most
    SHORT_NAME_MAX letters, sharing no word stem with the node's name (or with capitals
    inside it), while the node also has the alias "<word> syndrome". Like an acronym, it
    then matches only a mention in capitals: "soft" and "child" are ordinary words of a
    vignette."""
    word = pl.col("alias").str.strip_chars()
    lower = word.str.to_lowercase()
    one_word = ~word.str.contains(r"\s") & (word.str.len_chars() <= SHORT_NAME_MAX)
    with_syndrome = (
        (lower + " syndrome")
        .is_in(pl.col("alias").str.strip_chars().str.to_lowercase().implode())
        .over("idx")
    )
    unlike_name = pl.struct("idx", "alias").map_elements(
        lambda r: not _stem_in_name(r["alias"], names_of[r["idx"]]), return_dtype=pl.Boolean
    )
    # capitals inside the word mark a short form too, even one made of the name's own word
    # ("chILD": childhood interstitial lung disease)
    mixed = word.str.contains(r"[a-z][A-Z]")
    return one_word & with_syndrome & (unlike_name | mixed)


def _stem_in_name(alias: str, name: str) -> bool:
    word = norm_key(alias)
    return any(_stem_shared(word, w) for w in content_tokens(norm_key(name)))


# A lone adjective describes a feature of a condition; it names the condition only when it
# is a form of the name's own words ("obese" for Obesity).
LOOSE_FILE = Path(__file__).with_name("loose_synonyms.toml")
_ADJECTIVE_END = re.compile(r"(?:ed|ive|ic|al|ous|ent|ant|ful|less)$")


def _stem_shared(a: str, b: str) -> bool:
    n = min(len(a), len(b), 4)
    return a[:n] == b[:n]


@cache
def _listed_loose() -> frozenset[tuple[str, str]]:
    rules = tomllib.loads(LOOSE_FILE.read_text(encoding="utf-8"))
    return frozenset((norm_key(r["synonym"]), norm_key(r["concept"])) for r in rules["loose"])


def loose_synonym(alias: str, name: str) -> bool:
    """A synonym too loose to link: one adjective ("Unresponsive", "Disoriented") for a
    concept whose name is a phrase of other words ("Confusional arousal"). Such a synonym
    describes how a patient with the condition looks, not the condition: said of a
    patient, "unresponsive" or "disoriented" means many other things. Nouns stay
    ("Heartburn", "Clubfoot"), and so do adjectives for one-word names ("Tired" for
    Fatigue: the name is no narrower than the word)."""
    if (norm_key(alias), norm_key(name)) in _listed_loose():
        return True  # listed by hand, with the reason (loose_synonyms.toml)
    toks = raw_tokens(alias)
    if len(toks) != 1 or is_acronym(alias):
        return False
    word = norm_key(alias)
    name_words = content_tokens(norm_key(name))
    if len(name_words) < 2 or not _ADJECTIVE_END.search(word):
        return False
    return not any(_stem_shared(word, w) for w in name_words)


# A trailing parenthetical that says the term is the concept with nothing specified: the
# bare phrase names that concept too ("Generalized tonic-clonic seizure (without
# specification of onset)" is what a text calls a generalized tonic-clonic seizure).
_UNSPECIFIED = r"(?i)\s*\((?:without specification of [^()]*|unspecified[^()]*|NOS)\)\s*$"


def _unspecified_base_names(nodes: pl.DataFrame, syn_col: str) -> pl.DataFrame:
    """Bare forms of aliases marked unspecified, where no other alias already has them."""
    aliases = pl.concat(
        [
            nodes.select("idx", pl.col("name").alias("alias")),
            nodes.select("idx", pl.col(syn_col).alias("alias")).explode("alias"),
        ]
    ).drop_nulls("alias")
    taken = set(aliases["alias"].str.to_lowercase().to_list())
    base = (
        aliases.filter(pl.col("alias").str.contains(_UNSPECIFIED))
        .with_columns(pl.col("alias").str.replace(_UNSPECIFIED, "").str.strip_chars())
        .filter(~pl.col("alias").str.to_lowercase().is_in(sorted(taken)))
        .unique(maintain_order=True)
    )
    # a bare form that two nodes would share names neither
    base = base.filter(pl.col("idx").n_unique().over(pl.col("alias").str.to_lowercase()) == 1)
    return base.select("idx", "alias", pl.lit(False).alias("is_name"))


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


class KGKnowledgeBase(KnowledgeBase):
    """scispaCy's KnowledgeBase over the KG's (raw, not normalised) alias strings.

    CandidateGenerator reads only `alias_to_cuis`, which is built at once from two flat
    columns; the Entity records (`cui_to_entity`) are made only if something asks for them.
    scispaCy's own constructor makes every Entity up front, a second of every warm start
    on HPO (most of it unused)."""

    def __init__(self, kg: KnowledgeGraph, aliases: pl.DataFrame) -> None:
        # no super().__init__(): it indexes every entity in Python
        self._kg = kg
        self._aliases = aliases
        ids = kg.ids
        to_cuis: dict[str, set[str]] = {}
        for i, alias in zip(aliases["idx"].to_list(), aliases["alias"].to_list(), strict=True):
            to_cuis.setdefault(alias, set()).add(ids[i])
        self.alias_to_cuis = to_cuis
        self._entities: dict[str, Entity] | None = None

    @property  # type: ignore[override]
    def cui_to_entity(self) -> dict[str, Entity]:
        if self._entities is None:
            by_node: dict[int, list[str]] = {}
            for i, alias in zip(
                self._aliases["idx"].to_list(), self._aliases["alias"].to_list(), strict=True
            ):
                by_node.setdefault(i, []).append(alias)
            ids, names, types = self._kg.ids, self._kg.names, self._kg.types
            self._entities = {
                ids[i]: Entity(
                    concept_id=ids[i], canonical_name=names[i], aliases=als, types=[types[i]]
                )
                for i, als in by_node.items()
            }
        return self._entities


def scispacy_kb(kg: KnowledgeGraph, aliases: pl.DataFrame) -> KnowledgeBase:
    """A scispaCy KnowledgeBase whose aliases are the KG's alias strings."""
    return KGKnowledgeBase(kg, aliases)
