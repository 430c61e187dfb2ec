"""Hetionet: nodes TSV + edges SIF, or hetnet JSON (loader: kgsynth/kg/hetionet.py).

hetionet:PATH reads either layout; a JSON file is registered first, so a file that starts
like JSON (or is named .json) goes to the JSON loader, which says what is wrong in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgsynth.kg.registry import FileHead, KGFormat, KGSource, register_format

if TYPE_CHECKING:
    from kgsynth.kg.graph import KnowledgeGraph


def is_json(head: FileHead) -> bool:
    return head.raw.lstrip()[:1] in (b"{", b"[") or ".json" in head.path.name.lower()


def load_json(src: KGSource) -> KnowledgeGraph:
    from kgsynth.kg import hetionet

    return hetionet.load_hetionet_json(src.files[0], src.name)


def tsv_role(head: FileHead) -> str | None:
    if {"source", "metaedge", "target"} <= head.fields:
        return "edges"
    if {"id", "kind"} <= head.fields and "category" not in head.fields:
        return "nodes"  # with a category column it is a KGX nodes file
    return None


def load_tsv(src: KGSource) -> KnowledgeGraph:
    from kgsynth.kg import hetionet

    return hetionet.load_hetionet_tsv(src.files[0], src.files[1], src.name)


register_format(
    KGFormat("hetionet-json", load_json, "Hetionet hetnet JSON", sniff=is_json, family="hetionet")
)
register_format(
    KGFormat(
        "hetionet",
        load_tsv,
        "Hetionet nodes TSV + edges SIF",
        files=("nodes", "edges"),
        sniff=tsv_role,
        example="hetionet:nodes.tsv,edges.sif.gz",
    )
)
