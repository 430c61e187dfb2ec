"""head/relation/tail triples, in the file's own vocabulary (loader: kgsynth/kg/tabular.py).

The fallback: a delimited file no other format claims is read as triples, and the loader
names a missing column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgsynth.kg.registry import FileHead, KGFormat, KGSource, register_format

if TYPE_CHECKING:
    from kgsynth.kg.graph import KnowledgeGraph


def has_header(head: FileHead) -> bool:
    return bool(head.fields)  # an empty or non-UTF-8 first line raises InputError here


def load(src: KGSource) -> KnowledgeGraph:
    from kgsynth.kg import tabular

    return tabular.load_triples(src.files[0], src.name)


register_format(
    KGFormat("triples", load, "head/relation/tail triples", sniff=has_header, fallback=True)
)
