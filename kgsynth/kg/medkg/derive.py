"""Edges a source implies but does not state, each by a named rule with a confidence.

chebi_role: ChEBI says what a drug *is* (has_role "antihypertensive agent"), not what it is
given for; derived_roles.toml lists the roles that name a condition, and each drug holding
such a role (directly or through the role hierarchy) gets `used_for` that condition.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import polars as pl

from kgsynth.kg.medkg.merge import node_labels, word_bag
from kgsynth.kg.medkg.sources import edges_frame

RULES_FILE = Path(__file__).with_name("derived_roles.toml")
RELATION = "used_for"
SOURCE = "derived:chebi_role"


def role_rules() -> dict:
    return tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))


def derive_role_edges(nodes: pl.DataFrame, edges: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """`used_for` edges from drugs to conditions (merged ids), and the roles or conditions of
    the rules that medkg does not hold (reported, not fatal)."""
    rules = role_rules()["roles"]
    # a merged node answers to its name and to every member's name (ChEBI's role names are
    # synonyms of the MeSH pharmacologic action they merged with); names before synonyms,
    # then node order: the first node holding a rule's word bag is the one it means
    wanted = {r for role, rule in rules.items() for r in (role, *rule["for"])}
    asked = pl.DataFrame({"text": sorted(wanted)}).with_columns(
        word_bag(pl.col("text")).alias("bag")
    )
    labels = node_labels(nodes).with_columns(word_bag(pl.col("label")).alias("bag"))
    labels = labels.join(asked.select("bag").unique(), on="bag", how="semi")

    def first_of(types: list[str]) -> dict[str, str]:
        hits = labels.filter(pl.col("type").is_in(types)).unique(
            "bag", keep="first", maintain_order=True
        )
        by_bag = dict(zip(hits["bag"].to_list(), hits["id"].to_list(), strict=True))
        return {t: by_bag[b] for t, b in asked.iter_rows() if b in by_bag}

    role_id, condition_id = first_of(["pharmacologic_class"]), first_of(["disease", "phenotype"])
    # every node's pharmacologic-class ancestors over has_role then is_a
    has_role = edges.filter(pl.col("relation") == "has_role").select("head", "tail")
    is_a = edges.filter(pl.col("relation") == "is_a").select("head", "tail")
    parents: dict[str, list[str]] = {}
    for h, t in is_a.iter_rows():
        parents.setdefault(h, []).append(t)
    missing: list[str] = []
    targets: dict[str, list[str]] = {}
    for role, rule in rules.items():
        rid = role_id.get(role)
        if rid is None:
            missing.append(f"role '{role}'")
            continue
        for cond in rule["for"]:
            if cond not in condition_id:
                missing.append(f"condition '{cond}'")
                continue
            targets.setdefault(rid, []).append(condition_id[cond])
    found: set[tuple[str, str]] = set()
    for drug, role in has_role.iter_rows():
        seen, todo = set(), [role]
        while todo:
            r = todo.pop()
            if r in seen:
                continue
            seen.add(r)
            found.update((drug, t) for t in targets.get(r, []))
            todo.extend(parents.get(r, []))
    out = [(d, RELATION, t) for d, t in sorted(found)]
    return edges_frame(out, SOURCE), missing
