"""KGX TSV, Biolink categories and predicates (loader: kgsynth/kg/kgx.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgsynth.kg.registry import FileHead, KGFormat, KGSource, register_format

if TYPE_CHECKING:
    from kgsynth.kg.graph import KnowledgeGraph


def role(head: FileHead) -> str | None:
    if {"subject", "predicate", "object"} <= head.fields:
        return "edges"
    if {"id", "category"} <= head.fields:
        return "nodes"
    return None


def load(src: KGSource) -> KnowledgeGraph:
    from kgsynth.kg import kgx

    return kgx.load_kgx(src.files[0], src.files[1], src.name)


register_format(
    KGFormat(
        "kgx",
        load,
        "KGX nodes + edges TSV",
        files=("nodes", "edges"),
        sniff=role,
        example="kgx:nodes.tsv,edges.tsv",
    )
)
