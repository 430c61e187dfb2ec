"""PrimeKG's kg.csv layout (loader: kgsynth/kg/tabular.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgsynth.kg.registry import FileHead, KGFormat, KGSource, register_format

if TYPE_CHECKING:
    from kgsynth.kg.graph import KnowledgeGraph


def is_primekg(head: FileHead) -> bool:
    # any PrimeKG-only column means PrimeKG, so a missing one is named by its loader
    from kgsynth.kg.tabular import PRIMEKG_COLUMNS

    return bool(head.fields & (set(PRIMEKG_COLUMNS) - {"relation"}))


def load(src: KGSource) -> KnowledgeGraph:
    from kgsynth.kg import tabular

    return tabular.load_primekg(src.files[0], src.name)


register_format(KGFormat("primekg", load, "PrimeKG kg.csv", sniff=is_primekg))
