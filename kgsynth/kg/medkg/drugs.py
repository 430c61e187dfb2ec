"""DrugBank-open drug names and brand names (the drug-named-entity-recognition wheel).

The wheel ships its dictionary as a bz2 pickle of plain dicts, lists and strings. It is read
with an unpickler that refuses every class, so the file can build containers and nothing
else: no code runs from it, whatever it holds."""

from __future__ import annotations

import bz2
import pickle
from typing import Any

from kgsynth.errors import KGSynthError
from kgsynth.kg.medkg.sources import (
    Part,
    drug_dictionary_file,
    edges_frame,
    nodes_frame,
    xrefs_frame,
)

SOURCE = "drugbank_open"


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: plain data only")


def _plain_name(s: str) -> bool:
    # some synonyms carry wiki markup from the dictionary's sources
    return 0 < len(s) <= 80 and not any(c in s for c in "&{}=<>|")


def read_dictionary() -> dict[str, Any]:
    path = drug_dictionary_file()
    try:
        with bz2.open(path, "rb") as fh:
            data = _PlainDataUnpickler(fh).load()
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        raise KGSynthError(f"{path}: not the drug dictionary medkg reads ({e})") from e
    if not isinstance(data, dict) or "drug_canonical_to_data" not in data:
        raise KGSynthError(f"{path}: no 'drug_canonical_to_data' table")
    return data


def read_drugs() -> Part:
    data = read_dictionary()
    canon: dict[str, dict[str, Any]] = data["drug_canonical_to_data"]
    variants: dict[str, list[str]] = data.get("drug_variant_to_canonical", {})
    names_of: dict[str, list[str]] = {}
    for variant, canonicals in variants.items():
        for c in canonicals:
            names_of.setdefault(c, []).append(variant)
    rows, xrefs = [], []
    for key, d in canon.items():
        db, mesh = d.get("drugbank_id"), d.get("mesh_id")
        if not db and not mesh:
            continue  # no id to merge or cite it by
        # the dictionary's own key when there is no DrugBank id: its MeSH id is a claim to
        # check (it is sometimes the drug's class), never the node's identity
        node = f"DRUGBANK:{db}" if db else f"DRUGNER:{key}"
        name = d.get("name") or key
        syns = sorted({v for v in names_of.get(key, []) if v.lower() != name.lower()})
        syns += [s for s in d.get("synonyms", []) if isinstance(s, str)]
        rows.append((node, name, "drug", [s for s in syns if _plain_name(s)]))
        if mesh:
            xrefs.append((node, f"MESH:{mesh}"))
    return Part(
        SOURCE,
        "drug_named_entity_recognition",
        nodes_frame(rows).unique("id", keep="first", maintain_order=True),
        edges_frame([], SOURCE),  # names only: the drugs' edges come from ChEBI and MeSH
        xrefs_frame(xrefs, SOURCE),
    )
