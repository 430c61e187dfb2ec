"""Knowledge graphs: the engine (graph.py), load_kg (load.py) and the KG formats it reads
(registry.py, formats/).

The names below load on first use, so reading the format registry (the CLI's --help) does
not import numpy and the loaders.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kgsynth.kg.graph import KnowledgeGraph
    from kgsynth.kg.load import load_kg

__all__ = ["BUILTIN_KGS", "KnowledgeGraph", "load_kg"]

_WHERE = {"KnowledgeGraph": "kgsynth.kg.graph", "load_kg": "kgsynth.kg.load"}


def __getattr__(name: str) -> Any:
    if name == "BUILTIN_KGS":  # the built-in KGs registered now
        from kgsynth.kg.registry import builtin_names

        return builtin_names()
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    try:  # a submodule another import would have loaded before (kgsynth.kg.vocab)
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
