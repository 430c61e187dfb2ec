"""ICD-10-CM diagnoses (the tabular list inside the `simple-icd-10-cm` wheel): a node for each
code that names a concept no other source has, typed by its chapter, `is_a` its nearest
ancestor code that is a node.

ICD is a classification, not a vocabulary: many codes are residual classes ("Other ...",
"..., unspecified"), sides of a body ("..., right eye") or episodes of care ("..., initial
encounter"); those name no concept a text says and are left out, and so are the chapters
of external causes (V-Y) and of contact with health services (Z). Inclusion terms are the
conditions a code counts, often narrower than it: they are no synonyms, and are not read.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection
from pathlib import Path

from kgsynth.kg.medkg.sources import Part, edges_frame, nodes_frame, package_dir

SOURCE = "icd10cm"
PACKAGE = "simple_icd_10_cm"
PREFIX = "ICD10CM"
# code letter -> node type; letters not listed (V-Z: external causes, health services) are out
_TYPE_OF_LETTER = {c: "disease" for c in "ABCDEFGHIJKLMNOPQSTU"} | {"R": "phenotype"}
# a name that is a residual class, a side or an episode of care
_NOT_A_CONCEPT = re.compile(
    r"(?i)\b(?:other|unspecified|not elsewhere classified|NEC|elsewhere|encounter|sequelae?"
    r"|right|left|bilateral|initial|subsequent|unilateral)\b"
)


def icd10cm_file() -> Path:
    folder = package_dir(PACKAGE) / "data"
    found = sorted(folder.glob("icd10c*-tabular-*.xml"))
    if not found:
        raise FileNotFoundError(f"no ICD-10-CM tabular XML in {folder}")
    return found[-1]


def read_codes(path: Path) -> list[tuple[str, str, str | None]]:
    """(code, name, parent code or None) for every diagnosis code of the tabular list, in
    file order; a top-level code's parent is None (its section names a range, no concept)."""
    rows: list[tuple[str, str, str | None]] = []

    def walk(diag: ET.Element, parent: str | None) -> None:
        code, name = diag.findtext("name"), diag.findtext("desc")
        if not code or not name:
            return
        rows.append((code, name.strip(), parent))
        for child in diag.findall("diag"):
            walk(child, code)

    root = ET.parse(path).getroot()
    for section in root.iter("section"):
        for diag in section.findall("diag"):
            walk(diag, None)
    return rows


def read_icd10cm(codes: list[tuple[str, str, str | None]], exclude: Collection[str] = ()) -> Part:
    """Every code that names a concept (see the module's note) and is not in `exclude`
    (ICD10CM:... ids: concepts another source already has, see build.new_concepts), `is_a`
    its nearest ancestor that is a node."""
    parent_of = {c: p for c, _, p in codes}
    skip = set(exclude)
    kept = {c: name for c, name in concept_codes(codes).items() if f"{PREFIX}:{c}" not in skip}
    rows = [(f"{PREFIX}:{c}", name, _TYPE_OF_LETTER[c[0]], []) for c, name in kept.items()]
    edges = []
    for c in kept:
        up = parent_of.get(c)
        while up is not None and up not in kept:
            up = parent_of.get(up)
        if up is not None:
            edges.append((f"{PREFIX}:{c}", "is_a", f"{PREFIX}:{up}"))
    return Part(SOURCE, PACKAGE, nodes_frame(rows), edges_frame(edges, SOURCE))


def concept_codes(codes: list[tuple[str, str, str | None]]) -> dict[str, str]:
    """code -> name for the codes that name a concept (see the module's note)."""
    return {
        c: name
        for c, name, _ in codes
        if c[0] in _TYPE_OF_LETTER and not _NOT_A_CONCEPT.search(name)
    }
