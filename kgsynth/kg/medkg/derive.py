"""Edges a source implies but does not state, each by a named rule with a confidence.

chebi_role: ChEBI says what a drug *is* (has_role "antihypertensive agent"), not what it is
given for; derived_roles.toml lists the roles that name a condition, and each drug holding
such a role (directly or through the role hierarchy) gets `used_for` that condition.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import polars as pl

from kgsynth.kg.medkg.sources import edges_frame

RULES_FILE = Path(__file__).with_name("derived_roles.toml")
RELATION = "used_for"
SOURCE = "derived:chebi_role"


def word_bag(text: str) -> str:
    """A name's words in sorted order: "Arthritis, Rheumatoid" is "rheumatoid arthritis"."""
    return " ".join(sorted(re.findall(r"[a-z0-9]+", text.lower())))


def role_rules() -> dict:
    return tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))


def derive_role_edges(nodes: pl.DataFrame, edges: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """`used_for` edges from drugs to conditions (merged ids), and the roles or conditions of
    the rules that medkg does not hold (reported, not fatal)."""
    rules = role_rules()["roles"]
    # a merged node answers to its name and to every member's name (ChEBI's role names are
    # synonyms of the MeSH pharmacologic action they merged with); exact names first
    by_name: dict[str, list[tuple[str, str]]] = {}
    role_id: dict[str, str] = {}
    frame = nodes.select("id", "name", "type", "synonyms")
    for exact in (True, False):
        for i, n, t, syns in frame.iter_rows():
            for label in [n] if exact else syns or []:
                by_name.setdefault(word_bag(label), []).append((i, t))
                if t == "pharmacologic_class":
                    role_id.setdefault(word_bag(label), i)
    # every node's pharmacologic-class ancestors over has_role then is_a
    has_role = edges.filter(pl.col("relation") == "has_role").select("head", "tail")
    is_a = edges.filter(pl.col("relation") == "is_a").select("head", "tail")
    parents: dict[str, list[str]] = {}
    for h, t in is_a.iter_rows():
        parents.setdefault(h, []).append(t)
    missing: list[str] = []
    targets: dict[str, list[str]] = {}
    for role, rule in rules.items():
        rid = role_id.get(word_bag(role))
        if rid is None:
            missing.append(f"role '{role}'")
            continue
        for cond in rule["for"]:
            hits = [i for i, t in by_name.get(word_bag(cond), []) if t in ("disease", "phenotype")]
            if not hits:
                missing.append(f"condition '{cond}'")
                continue
            targets.setdefault(rid, []).append(hits[0])
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
