"""On-disk cache of built KGs: node table as Parquet, CSR arrays as .npy, meta as JSON.

Keyed by a cheap fingerprint of the source files (path, size, mtime) plus a format version,
and written to a temp folder then renamed, so a crash never leaves half a cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

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
    return cache_dir / "kg" / f"{name}-{fingerprint(files, variant)}"


def save(kg: KnowledgeGraph, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        kg.nodes.write_parquet(tmp / "nodes.parquet")
        for a in _ARRAYS:
            np.save(tmp / f"{a}.npy", getattr(kg, a))
        info = {"name": kg.name, "relations": kg.relations, "meta": kg.meta, "hash": kg.hash}
        (tmp / "kg.json").write_text(json.dumps(info))
        if folder.exists():
            shutil.rmtree(tmp)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
