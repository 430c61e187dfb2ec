"""A cache entry's manifest: which files it holds, their sizes and content hashes.

Every folder kgsynth publishes into its cache (a KG graph, an alias table, an alias index)
gets `MANIFEST.json` written last, inside the staged folder that is renamed into place, so
an entry with a valid manifest was written whole by kgsynth. Loading checks it: sizes
always, content hashes for every file up to `HASH_ON_LOAD_MAX` (sha256 runs at about
1 GB/s here, so a built-in KG's entries cost milliseconds); `kgsynth cache verify` hashes
everything. An entry that fails is discarded with one warning naming it and built again:
a disk that filled up, a file deleted or edited by hand never ends a build in a traceback
and is never completed from anywhere else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

MANIFEST = "MANIFEST.json"
FORMAT = 1  # of the manifest itself
HASH_ON_LOAD_MAX = 256 << 20  # bytes; bigger files are size-checked on load, hashed on verify
_BLOCK = 1 << 20


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _kgsynth_version() -> str:
    try:
        return metadata.version("kgsynth")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def write(folder: Path, kind: str, version: str, about: dict[str, str] | None = None) -> None:
    """Record every file now in `folder`; call it last, before the folder is published.

    `kind` names the cache ("kg", "aliases", "linker") and `version` its format, so an entry
    of another kind or an older format is refused rather than misread; `about` says what the
    entry was made from (the KG's hash), so `kgsynth cache clear --kg` can find it."""
    files = {
        p.name: {"size": p.stat().st_size, "sha256": file_hash(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    doc = {"manifest": FORMAT, "kind": kind, "version": version, "kgsynth": _kgsynth_version()}
    doc["about"] = about or {}
    (folder / MANIFEST).write_text(json.dumps({**doc, "files": files}, indent=1))


def problem(folder: Path, kind: str, version: str, *, full: bool = False) -> str | None:
    """Why `folder` is not a sound entry of this kind and version, or None when it is.

    `full` hashes every file; otherwise files over HASH_ON_LOAD_MAX are checked by size."""
    try:
        doc: Any = json.loads((folder / MANIFEST).read_text())
        files = doc["files"]
        made_as = (doc["manifest"], doc["kind"], doc["version"])
    except FileNotFoundError:
        return f"no {MANIFEST} (not written whole, or by an older kgsynth)"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{MANIFEST} unreadable ({type(e).__name__})"
    if made_as != (FORMAT, kind, version):
        return f"made as {made_as[1]} {made_as[2]}, this kgsynth reads {kind} {version}"
    if not isinstance(files, dict) or not files:
        return f"{MANIFEST} lists no files"
    for name, want in sorted(files.items()):
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            return f"{name} is missing"
        if size != want.get("size"):
            return f"{name} is {size} bytes, the manifest says {want.get('size')}"
        if (full or size <= HASH_ON_LOAD_MAX) and file_hash(path) != want.get("sha256"):
            return f"{name} does not match its hash in the manifest"
    return None


def discard(folder: Path, what: str, why: str) -> None:
    """One warning naming the entry and why, then the entry is removed (kgsynth wrote every
    file under its cache kinds' folders, so nothing of the user's goes with it)."""
    log.warning("%s %s is damaged (%s); it is discarded and built again", what, folder, why)
    shutil.rmtree(folder, ignore_errors=True)


def load_checked(
    folder: Path, kind: str, version: str, what: str, read: Callable[[Path], T]
) -> T | None:
    """`read(folder)` when `folder` holds a sound entry of this kind and version; None when
    there is no entry, or when its manifest or `read` fails: then it is discarded with one
    warning naming `what` and the folder, and the caller builds it again."""
    if not folder.is_dir():
        return None
    why = problem(folder, kind, version)
    if why is None:
        try:
            return read(folder)
        except Exception as e:  # noqa: BLE001 - files that match the manifest yet do not load
            why = f"does not load: {type(e).__name__}: {e}"
    discard(folder, what, why)
    return None


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
