"""One entry point for every KG a build can use: a built-in name or a file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kgsynth.errors import UnknownKGError
from kgsynth.kg import cache
from kgsynth.kg.graph import KnowledgeGraph
from kgsynth.kg.hpo import build_hpo_kg, hpo_files
from kgsynth.kg.tabular import PRIMEKG_COLUMNS, load_primekg, load_triples, sniff

BUILTIN_KGS = ("hpo",)


def _resolve(spec: str) -> tuple[str, list[Path], Callable[[], KnowledgeGraph]]:
    if spec == "hpo":
        return "hpo", hpo_files(), build_hpo_kg
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UnknownKGError(
            f"--kg '{spec}' is neither a built-in KG ({', '.join(BUILTIN_KGS)}) nor an "
            f"existing file (PrimeKG kg.csv or a head/relation/tail triples file)"
        )
    _, header = sniff(path)
    if "x_id" in header or set(PRIMEKG_COLUMNS[:4]) <= set(header):
        return path.stem, [path], lambda: load_primekg(path)
    return path.stem, [path], lambda: load_triples(path)


def load_kg(spec: str, cache_dir: Path | None = None) -> KnowledgeGraph:
    """Load a KG by built-in name or file path, through the on-disk cache when given."""
    name, files, build = _resolve(spec)
    if cache_dir is None:
        return build()
    folder = cache.cache_path(Path(cache_dir), name, files)
    kg = cache.load(folder)
    if kg is None:
        kg = build()
        cache.save(kg, folder)
    return kg
