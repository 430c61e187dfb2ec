"""On-disk cache of built KGs: node table as Parquet, CSR arrays as .npy, meta as JSON.

Graphs are stored under their content hash (`kg/graphs/<hash>/`), so the same KG read from
two places is stored once. A cheap fingerprint of the source files (path, size, mtime, how
they are read) points at that hash (`kg/sources/<name>-<fingerprint>.json`), so a later
build finds its graph without reading the files. Everything is written to a temp name and
renamed, so a crash never leaves half a cache; the graph folder's manifest (kgsynth.manifest)
is written last and checked on load, so a damaged graph is discarded with a warning and
built again from the source files.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import polars as pl

from kgsynth import cache_layout, manifest
from kgsynth.atomic import staged_folder
from kgsynth.kg.graph import KnowledgeGraph

log = logging.getLogger(__name__)

CACHE_VERSION = cache_layout.KG_VERSION  # bumped when graph construction changes
KIND = cache_layout.KG
_ARRAYS = ("indptr", "indices", "edge_rel", "edge_fwd")


def fingerprint(files: list[Path], variant: str = "") -> str:
    d = hashlib.sha256(CACHE_VERSION.encode())
    if variant:  # how the files are read (format, vocabulary): the same file read two ways
        d.update(f"|{variant}\n".encode())
    for f in files:
        st = f.stat()
        d.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return d.hexdigest()[:20]


def cache_path(cache_dir: Path, name: str, files: list[Path], variant: str = "") -> Path:
    """The source pointer for these files: a JSON file naming the graph's content hash."""
    return cache_layout.kg_sources(cache_dir) / f"{name}-{fingerprint(files, variant)}.json"


def graph_folder(cache_dir: Path, kg_hash: str) -> Path:
    return cache_layout.kg_graphs(cache_dir) / kg_hash[:32]


def load_source(pointer: Path) -> KnowledgeGraph | None:
    """The graph a source pointer names, or None when either is missing."""
    try:
        kg_hash = str(json.loads(pointer.read_text())["hash"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("KG cache pointer %s is damaged (%s); the KG is built again", pointer, e)
        pointer.unlink(missing_ok=True)
        return None
    return load(graph_folder(pointer.parents[2], kg_hash))


def save_source(kg: KnowledgeGraph, pointer: Path, files: list[Path]) -> None:
    """Store the graph under its hash (once) and point this source at it."""
    save(kg, graph_folder(pointer.parents[2], kg.hash))
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(json.dumps({"hash": kg.hash, "files": [str(f) for f in files]}))
    tmp.replace(pointer)


def save(kg: KnowledgeGraph, folder: Path) -> None:
    with staged_folder(folder) as tmp:
        kg.nodes.write_parquet(tmp / "nodes.parquet")
        for a in _ARRAYS:
            np.save(tmp / f"{a}.npy", getattr(kg, a))
        info = {"name": kg.name, "relations": kg.relations, "meta": kg.meta, "hash": kg.hash}
        (tmp / "kg.json").write_text(json.dumps(info))
        manifest.write(tmp, KIND, CACHE_VERSION, about={"kg": kg.hash, "name": kg.name})


def load(folder: Path) -> KnowledgeGraph | None:
    """The graph stored in `folder`; None when there is none, or when it is damaged (then
    it is discarded with a warning, and the caller builds it again)."""
    return manifest.load_checked(folder, KIND, CACHE_VERSION, "KG cache entry", _read)


def _read(folder: Path) -> KnowledgeGraph:
    info = json.loads((folder / "kg.json").read_text())
    arrays = {a: np.load(folder / f"{a}.npy") for a in _ARRAYS}
    return KnowledgeGraph(
        name=info["name"],
        nodes=pl.read_parquet(folder / "nodes.parquet"),
        relations=info["relations"],
        meta=info["meta"],
        hash=info["hash"],
        **arrays,
    )


def verify(folder: Path) -> str | None:
    """`kgsynth cache verify`: every file hashed, whatever its size."""
    return manifest.problem(folder, KIND, CACHE_VERSION, full=True)
