"""One vocabulary of node types and relation names for every KG loader.

PrimeKG, Hetionet and KGX/Biolink each name the same concepts differently ("gene/protein",
"Gene", "biolink:Gene"; "indication", "CtD", "biolink:treats"). Each loader maps its
source's terms onto the lower-snake-case names below, with a table that lives next to it
(tabular.py: PRIMEKG_*, hetionet.py: HETIONET_*, kgx.py: BIOLINK_*), so a path, a filter
or a prompt template means the same thing whichever loader read the KG. The built-in HPO
KG already uses these names (phenotype, disease, gene; is_a, has_phenotype,
associated_with).

Relations also get one direction: where a source stores an edge the other way round (for
example Hetionet's Anatomy-expresses-Gene), the table says so and the loader swaps head and
tail. Terms the tables do not know pass through lower-snake-cased, never dropped.
"""

from __future__ import annotations

import polars as pl

# Bump when the names below or a loader's mapping table change: it is part of the cache
# key of every KG read from files (kgsynth.kg.load.cache_variant) and of its meta.
VOCAB_VERSION = "vocab-v1"

# -- canonical names -------------------------------------------------------------------------

NODE_TYPES = (
    "gene",  # genes and their products (PrimeKG merges them as gene/protein)
    "drug",  # drugs and other chemical compounds
    "disease",
    "phenotype",  # phenotypes, symptoms and side effects (PrimeKG's effect/phenotype)
    "anatomy",
    "pathway",
    "biological_process",
    "molecular_function",
    "cellular_component",
    "exposure",
    "pharmacologic_class",
    "entity",  # no more specific type known (also the triples loader's default)
)

RELATIONS = (
    "treats",  # drug -> disease
    "palliates",  # drug -> disease
    "contraindicated_for",  # drug -> disease
    "off_label_use",  # drug -> disease
    "targets",  # drug -> gene (binding target, enzyme, carrier, transporter)
    "has_side_effect",  # drug -> phenotype
    "has_phenotype",  # disease -> phenotype
    "lacks_phenotype",  # disease -> phenotype, explicitly absent
    "associated_with",  # gene -> disease/phenotype, exposure -> disease
    "interacts_with",  # same-type interactions, exposure -> gene/process
    "expressed_in",  # gene -> anatomy
    "not_expressed_in",  # gene -> anatomy, explicitly absent
    "participates_in",  # gene -> pathway/process/function/component
    "upregulates",
    "downregulates",
    "regulates",  # gene -> gene
    "resembles",  # drug -> drug, disease -> disease
    "covaries_with",  # gene -> gene
    "localizes_to",  # disease -> anatomy
    "includes",  # pharmacologic class -> drug
    "causes",
    "is_a",  # child -> parent
    "parent_child",  # hierarchy edge of unknown direction (PrimeKG lists both)
)

# -- polars expressions ------------------------------------------------------------------------


def snake(expr: pl.Expr) -> pl.Expr:
    """Lower snake case: 'Side Effect' -> side_effect, 'PhenotypicFeature' ->
    phenotypic_feature, 'off-label use' -> off_label_use. A value with no letter or digit
    is kept as it is rather than turned into an empty name."""
    s = (
        expr.str.strip_chars()
        .str.replace_all(r"(\p{Lu}+)(\p{Lu}\p{Ll})", "${1}_${2}")  # RNAProduct -> RNA_Product
        .str.replace_all(r"([\p{Ll}\p{N}])(\p{Lu})", "${1}_${2}")  # camelCase -> camel_Case
        .str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", "_")
        .str.strip_chars("_")
    )
    return pl.when(s == "").then(expr).otherwise(s)


def lookup(expr: pl.Expr, table: dict[str, str]) -> pl.Expr:
    """The table's name for each value, else the value lower-snake-cased."""
    return expr.replace_strict(table, default=snake(expr), return_dtype=pl.String)


def mapping(values: pl.Series, table: dict[str, str]) -> dict[str, str]:
    """lookup() for each distinct value: a column of millions of rows holds a few dozen
    types or relations, so the regexes of snake() run on those alone."""
    distinct = pl.DataFrame({"v": values.unique().drop_nulls()})
    named = distinct.with_columns(lookup(pl.col("v"), table).alias("n"))
    return dict(zip(named["v"].to_list(), named["n"].to_list(), strict=True))


def normalise(df: pl.DataFrame, cols: list[str], table: dict[str, str]) -> pl.DataFrame:
    """Map the columns' values through table (see lookup) in place."""
    names = mapping(pl.concat([df[c] for c in cols]), table)
    return df.with_columns(pl.col(c).replace(names) for c in cols)


def swap_where(df: pl.DataFrame, cond: pl.Expr, a: str = "head", b: str = "tail") -> pl.DataFrame:
    """Swap columns a and b on the rows where cond holds."""
    return df.with_columns(
        pl.when(cond).then(pl.col(b)).otherwise(pl.col(a)).alias(a),
        pl.when(cond).then(pl.col(a)).otherwise(pl.col(b)).alias(b),
    )
