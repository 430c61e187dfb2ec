"""On-disk cache of built KGs: node table as Parquet, CSR arrays as .npy, meta as JSON.

Graphs are stored under their content hash (`kg/graphs/<hash>/`), so the same KG read from
two places is stored once. A cheap fingerprint of the source files (path, size, mtime, how
they are read) points at that hash (`kg/sources/<name>-<fingerprint>.json`), so a later
build finds its graph without reading the files. Everything is written to a temp name and
renamed, so a crash never leaves half a cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl

from kgsynth.atomic import staged_folder
from kgsynth.kg.graph import KnowledgeGraph

CACHE_VERSION = "kg-v1"  # bump when graph construction changes
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
    return cache_dir / "kg" / "sources" / f"{name}-{fingerprint(files, variant)}.json"


def graph_folder(cache_dir: Path, kg_hash: str) -> Path:
    return cache_dir / "kg" / "graphs" / kg_hash[:32]


def load_source(pointer: Path) -> KnowledgeGraph | None:
    """The graph a source pointer names, or None when either is missing."""
    try:
        kg_hash = json.loads(pointer.read_text())["hash"]
    except (OSError, ValueError, KeyError):
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


def load(folder: Path) -> KnowledgeGraph | None:
    if not (folder / "kg.json").exists():
        return None
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
