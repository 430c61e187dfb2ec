"""Per-process resources: loaded once in each process that runs build work, then reused.

A Dask worker process runs many shard tasks one after another; without this each task would
load the KG from the on-disk cache and rebuild the linker (seconds each). Tasks are handed
only what names a resource (the KG spec, cache folder and expected content hash), never the
object itself, so nothing large is pickled per task. In the flow's own process the KG the
flow loaded is registered here, so local shards use that very object.

Use `per_process(kind, key, factory)` for any other heavy object (a verifier model, say):
the factory runs once per process and key; concurrent callers wait for that one load.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kgsynth.errors import KGSynthError

if TYPE_CHECKING:
    from kgsynth.config import LinkingConfig
    from kgsynth.kg import KnowledgeGraph
    from kgsynth.linking.linker import Linker

T = TypeVar("T")

# a long-lived process (a Dask worker, a `serve` process, pytest) may see several KGs and
# configs; the least recently used entries go so memory stays bounded
MAX_ENTRIES = 8

_lock = threading.Lock()
_store: OrderedDict[tuple[str, Hashable], Any] = OrderedDict()
_loading: dict[tuple[str, Hashable], threading.Lock] = {}
_loads: Counter[str] = Counter()  # kind -> factory calls in this process


def per_process(kind: str, key: Hashable, factory: Callable[[], T]) -> T:
    """The object for (kind, key) in this process, made by `factory` on first use."""
    full = (kind, key)
    with _lock:
        if full in _store:
            _store.move_to_end(full)
            return _store[full]
        key_lock = _loading.setdefault(full, threading.Lock())
    with key_lock:  # one load per key; a second thread asking meanwhile waits for it
        with _lock:
            if full in _store:
                return _store[full]
        value = factory()
        with _lock:
            _loads[kind] += 1
            _put(full, value)
            _loading.pop(full, None)
    return value


def share(kind: str, key: Hashable, value: T) -> T:
    """Register an object loaded elsewhere in this process; an equal one already held wins
    (so one copy stays alive)."""
    full = (kind, key)
    with _lock:
        if full in _store:
            _store.move_to_end(full)
            return _store[full]
        _put(full, value)
    return value


def _put(full: tuple[str, Hashable], value: Any) -> None:
    _store[full] = value
    _store.move_to_end(full)
    while len(_store) > MAX_ENTRIES:
        _store.popitem(last=False)


def _kg_key(spec: str, cache_dir: Path | None, kg_hash: str) -> tuple[str, str, str]:
    return (spec, str(cache_dir), kg_hash)


def share_kg(spec: str, cache_dir: Path | None, kg: KnowledgeGraph) -> KnowledgeGraph:
    """The flow's freshly loaded KG (or the equal one this process already holds)."""
    return share("kg", _kg_key(spec, cache_dir, kg.hash), kg)


def worker_kg(spec: str, cache_dir: Path | None, kg_hash: str) -> KnowledgeGraph:
    """The KG `spec` as the flow loaded it (content hash `kg_hash`), loaded once per process
    through the on-disk cache, which the flow has already filled."""
    from kgsynth.kg import load_kg

    kg = per_process("kg", _kg_key(spec, cache_dir, kg_hash), lambda: load_kg(spec, cache_dir))
    if kg.hash != kg_hash:
        # the files changed between the flow's load and this worker's: rows would mix KGs
        with _lock:
            _store.pop(("kg", _kg_key(spec, cache_dir, kg_hash)), None)
        raise KGSynthError(
            f"KG '{spec}' changed during the build (hash {kg.hash[:12]}, the build started "
            f"with {kg_hash[:12]}); run the build again"
        )
    return kg


def worker_linker(kg: KnowledgeGraph, cfg: LinkingConfig, cache_dir: Path) -> Linker:
    """One linker per KG content, linking config and cache folder in this process."""
    from kgsynth.linking.linker import Linker

    key = (kg.hash, cfg.model_dump_json(), str(cache_dir))
    return per_process("linker", key, lambda: Linker(kg, cfg, cache_dir))


def stats() -> dict[str, Any]:
    """This process and how many times each kind was loaded in it (for the run report)."""
    with _lock:
        return {"host": socket.gethostname(), "pid": os.getpid(), "loads": dict(_loads)}


def clear() -> None:
    """Drop everything held (tests; a process that wants its memory back)."""
    with _lock:
        _store.clear()
        _loads.clear()
