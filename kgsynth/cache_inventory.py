"""The entries of a cache folder, by kind: listing, verifying and clearing them.

Behind `kgsynth cache {info,verify,clear}`. Listing reads folder names and manifests only
(no pickle, no import of what builds an entry), so it is quick on any cache. Verifying
hashes every file of every entry against its manifest, checks each shard record's seal and
the LLM cache's integrity and row digests; it only reads. Clearing removes entries of a
kind, or every entry made from one KG.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kgsynth import cache_layout as layout
from kgsynth import manifest

_CURRENT = {
    layout.KG: layout.KG_VERSION,
    layout.ALIASES: layout.ALIASES_VERSION,
    layout.LINKER: layout.LINKER_STORE_VERSION,
    layout.DECONTAM: layout.DECONTAM_VERSION,
    layout.PLOTS: layout.PLOTS_VERSION,
}


@dataclass(frozen=True)
class Entry:
    kind: str
    path: Path
    size: int
    kg: str = ""  # hash of the KG it was made from, where that is known
    label: str = ""  # a KG's name, or a note ("older format")
    stale: bool = False  # written by an older kgsynth: never read again, only takes room


def _manifest_doc(folder: Path) -> dict[str, object]:
    try:
        doc = json.loads((folder / manifest.MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _folders(root: Path) -> list[Path]:
    # names starting with "." are another build's staged folders, still being written
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _folder_entry(kind: str, folder: Path, kg_hash: str = "") -> Entry:
    doc = _manifest_doc(folder)
    about = doc.get("about") if isinstance(doc.get("about"), dict) else {}
    assert isinstance(about, dict)
    stale = doc.get("version") != _CURRENT[kind]
    if kind == layout.LINKER:
        stale = stale or not folder.name.endswith(f"-{layout.INDEX_VERSION}")
    return Entry(
        kind=kind,
        path=folder,
        size=manifest.size_of(folder),
        kg=str(about.get("kg") or kg_hash),
        label=str(about.get("name", "")) + (" (older format)" if stale else ""),
        stale=stale,
    )


def entries(cache_dir: Path, result_dir: Path | None = None) -> list[Entry]:
    """Every entry under `cache_dir`, by kind; shard records under `result_dir` (default:
    the cache folder's own) with their seals."""
    out: list[Entry] = []
    for folder in _folders(layout.kg_graphs(cache_dir)):
        out.append(_folder_entry(layout.KG, folder, kg_hash=folder.name))
    aliases = layout.alias_root(cache_dir)
    for folder in _folders(aliases):
        out.append(_folder_entry(layout.ALIASES, folder))
    if aliases.is_dir():  # aliases-v1: bare Parquet files
        for f in sorted(aliases.glob("*.parquet")):
            out.append(Entry(layout.ALIASES, f, f.stat().st_size, "", "(older format)", True))
    for folder in _folders(layout.linker_root(cache_dir)):
        out.append(_folder_entry(layout.LINKER, folder, kg_hash=folder.name.split("-")[0]))
    for folder in _folders(layout.decontam_root(cache_dir)):
        out.append(_folder_entry(layout.DECONTAM, folder))
    for folder in _folders(layout.plots_root(cache_dir)):
        out.append(_folder_entry(layout.PLOTS, folder))
    shards = result_dir or layout.shard_root(cache_dir)
    if shards.is_dir():
        for f in sorted(shards.iterdir()):
            if f.is_file() and f.name.startswith("kgsynth-shard-") and "." not in f.name:
                seal = f.with_name(f.name + ".seal")
                size = f.stat().st_size + (seal.stat().st_size if seal.is_file() else 0)
                out.append(Entry(layout.SHARDS, f, size))
            elif f.is_file() and f.name.endswith(".refused"):
                out.append(Entry(layout.SHARDS, f, f.stat().st_size, "", "refused", True))
    llm = layout.llm_path(cache_dir)
    if llm.parent.is_dir():
        for f in sorted(llm.parent.iterdir()):
            if f.name == llm.name:
                wal = sum(
                    p.stat().st_size for p in (Path(f"{f}-wal"), Path(f"{f}-shm")) if p.is_file()
                )
                out.append(Entry(layout.LLM, f, f.stat().st_size + wal))
            elif f.name.startswith(f"{llm.name}.damaged-") and not f.name.endswith(
                ("-wal", "-shm")
            ):
                out.append(Entry(layout.LLM, f, f.stat().st_size, "", "moved aside", True))
    return out


def verify(entry: Entry) -> str | None:
    """What is wrong with `entry` (every file hashed), or None when it is sound."""
    if entry.stale:
        return None  # never read by this kgsynth: `cache clear --stale` removes it
    if entry.kind in (layout.KG, layout.ALIASES, layout.LINKER, layout.DECONTAM, layout.PLOTS):
        return manifest.problem(entry.path, entry.kind, _CURRENT[entry.kind], full=True)
    if entry.kind == layout.SHARDS:
        from kgsynth.shard_store import problem

        return problem(entry.path)
    from kgsynth.llm.cache import verify as verify_llm

    return verify_llm(entry.path)


def matches_kg(entry: Entry, kg: str, names: dict[str, str]) -> bool:
    """Whether `entry` was made from the KG named `kg` (a KG name or a hash prefix)."""
    if not entry.kg:
        return False
    full = next((h for h in names if h.startswith(entry.kg) or entry.kg.startswith(h)), "")
    if names.get(full) == kg:
        return True
    return len(kg) >= 8 and (entry.kg.startswith(kg) or kg.startswith(entry.kg))


def kg_names(items: Iterable[Entry]) -> dict[str, str]:
    """KG hash -> the name it was built under, from the KG entries' manifests."""
    return {e.kg: e.label.removesuffix(" (older format)") for e in items if e.kind == layout.KG}


def remove(entry: Entry) -> None:
    if entry.path.is_dir():
        shutil.rmtree(entry.path)
        return
    entry.path.unlink(missing_ok=True)
    siblings = {layout.SHARDS: (".seal",), layout.LLM: ("-wal", "-shm")}.get(entry.kind, ())
    for suffix in siblings:
        Path(f"{entry.path}{suffix}").unlink(missing_ok=True)


def drop_kg_pointers(cache_dir: Path, kg_hashes: set[str] | None) -> int:
    """Remove the source pointers naming any of these KGs (their graphs are gone), or every
    pointer when `kg_hashes` is None; a pointer that does not read goes too."""
    n = 0
    for pointer in sorted(layout.kg_sources(cache_dir).glob("*.json")):
        try:
            target = str(json.loads(pointer.read_text())["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            target = ""
        if kg_hashes is None or not target or any(target.startswith(h[:32]) for h in kg_hashes):
            pointer.unlink(missing_ok=True)
            n += 1
    return n
