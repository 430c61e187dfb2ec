"""Path filters, compiled once per KG into boolean masks over nodes and CSR entries.

Every search in kgsynth.paths reads the same masks, so a filter never turns a vectorised
BFS step into a Python loop: a frontier expansion just drops masked entries and neighbours.

Semantics (shared by shortest, simple and k-shortest searches):
- `node_types`, `max_degree`: restrict *intermediate* nodes; the endpoints are whatever the
  caller asked for. `max_degree` compares against the node's full KG degree (CSR entries).
- `exclude_nodes`: KG ids never visited at all, endpoints included.
- `relations`, `exclude_relations`: restrict the edges a hop may use. Between two nodes
  joined by several relations, the hop is usable when at least one edge is allowed.
- `metapath`: a node-type set per position and a relation set per hop. It fixes the path
  length to `metapath.hops`; its endpoint types do apply to the endpoints.
Relations are matched in either direction; hops still report the KG's own orientation.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from kgsynth.kg.graph import KnowledgeGraph

NameSet = frozenset[str] | None  # None: anything


def _fs(x: Iterable[str] | None) -> frozenset[str] | None:
    if x is None:
        return None
    return frozenset([x] if isinstance(x, str) else x)


@dataclass(frozen=True)
class Metapath:
    """Allowed node types per position (hops + 1 of them) and relations per hop."""

    node_types: tuple[NameSet, ...]
    relations: tuple[NameSet, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "node_types", tuple(_fs(t) for t in self.node_types))
        object.__setattr__(self, "relations", tuple(_fs(r) for r in self.relations))
        if not self.relations or len(self.node_types) != len(self.relations) + 1:
            raise ValueError("a metapath needs hops >= 1 and one node-type set per position")

    @property
    def hops(self) -> int:
        return len(self.relations)

    @classmethod
    def parse(cls, text: str) -> Metapath:
        """`disease -has_phenotype- phenotype -*- gene|disease`: `*` is any, `|` is or."""
        toks = text.split()
        types, rels = toks[0::2], toks[1::2]
        if len(types) != len(rels) + 1 or not all(
            r.startswith("-") and r.endswith("-") and len(r) > 2 for r in rels
        ):
            raise ValueError(f"bad metapath {text!r}: want 'type -relation- type ...'")

        def one(tok: str) -> NameSet:
            return None if tok == "*" else frozenset(tok.split("|"))

        return cls(tuple(one(t) for t in types), tuple(one(r[1:-1]) for r in rels))


@dataclass(frozen=True)
class PathFilter:
    """Constraints on the paths a search may return (see the module doc for semantics).
    Any iterable of names (or one name) is accepted; it is stored as a frozenset."""

    node_types: frozenset[str] | None = None
    relations: frozenset[str] | None = None
    exclude_nodes: frozenset[str] = field(default_factory=frozenset)
    exclude_relations: frozenset[str] = field(default_factory=frozenset)
    max_degree: int | None = None
    metapath: Metapath | None = None

    def __post_init__(self) -> None:
        # accept any iterable (or a single string) but store hashable frozensets, so a
        # filter can key the per-KG mask cache
        object.__setattr__(self, "node_types", _fs(self.node_types))
        object.__setattr__(self, "relations", _fs(self.relations))
        object.__setattr__(self, "exclude_nodes", _fs(self.exclude_nodes) or frozenset())
        object.__setattr__(self, "exclude_relations", _fs(self.exclude_relations) or frozenset())

    @property
    def is_trivial(self) -> bool:
        return self == _NO_FILTER


_NO_FILTER = PathFilter()


@dataclass(frozen=True)
class Masks:
    """A filter compiled against one KG. None means "everything allowed" (the fast path)."""

    node_ok: np.ndarray | None  # bool per node: may be an intermediate
    end_ok: np.ndarray | None  # bool per node: may be an endpoint
    entry_ok: np.ndarray | None  # bool per CSR entry: usable on any hop
    # metapath only: per position the node mask (intermediate/endpoint rules folded in) and
    # per hop the entry mask (entry_ok folded in); always materialised
    pos_nodes: tuple[np.ndarray, ...] | None = None
    pos_entries: tuple[np.ndarray, ...] | None = None

    @property
    def hops(self) -> int | None:
        """The fixed path length a metapath imposes, else None."""
        return None if self.pos_entries is None else len(self.pos_entries)

    def hop_entries(self, j: int) -> np.ndarray | None:
        return self.entry_ok if self.pos_entries is None else self.pos_entries[j]


TRIVIAL = Masks(None, None, None)

_CACHE: weakref.WeakKeyDictionary[KnowledgeGraph, OrderedDict[PathFilter, Masks]] = (
    weakref.WeakKeyDictionary()
)
_CACHE_SIZE = 64


def compile_filter(kg: KnowledgeGraph, f: PathFilter | None) -> Masks:
    """Masks for `f` on `kg`, cached per KG (a query then costs no O(edges) work)."""
    if f is None or f.is_trivial:
        return TRIVIAL
    per_kg = _CACHE.setdefault(kg, OrderedDict())
    if f in per_kg:
        per_kg.move_to_end(f)
        return per_kg[f]
    masks = _compile(kg, f)
    per_kg[f] = masks
    if len(per_kg) > _CACHE_SIZE:
        per_kg.popitem(last=False)
    return masks


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False  # shared through the cache: callers must copy to change
    return a


def _and(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a & b


def _type_mask(kg: KnowledgeGraph, allowed: frozenset[str]) -> np.ndarray:
    unknown = allowed - set(kg.types)
    if unknown:
        raise ValueError(f"unknown node type(s) {sorted(unknown)}; KG has {sorted(set(kg.types))}")
    return np.isin(np.asarray(kg.types, dtype=object), list(allowed))


def _rel_mask(
    kg: KnowledgeGraph, allowed: frozenset[str] | None, excluded: frozenset[str]
) -> np.ndarray:
    """Allowed flags per relation id; unknown names in an allow-list are an error (a typo
    would otherwise silently find nothing), in an exclude-list they are harmless."""
    ok = np.ones(len(kg.relations), bool)
    if allowed is not None:
        unknown = allowed - set(kg.relations)
        if unknown:
            raise ValueError(f"unknown relation(s) {sorted(unknown)}; KG has {kg.relations}")
        ok = np.isin(np.asarray(kg.relations, dtype=object), list(allowed))
    for i, r in enumerate(kg.relations):
        if r in excluded:
            ok[i] = False
    return ok


def _compile(kg: KnowledgeGraph, f: PathFilter) -> Masks:
    n = kg.n_nodes
    end_ok: np.ndarray | None = None
    if f.exclude_nodes:
        end_ok = np.ones(n, bool)
        hit = [i for i in map(kg.index_of, f.exclude_nodes) if i is not None]
        end_ok[hit] = False
    node_ok = end_ok
    if f.node_types is not None:
        node_ok = _and(node_ok, _type_mask(kg, f.node_types))
    if f.max_degree is not None:
        node_ok = _and(node_ok, kg.degree <= f.max_degree)
    rel_ok = _rel_mask(kg, f.relations, f.exclude_relations)
    entry_ok = None if rel_ok.all() else rel_ok[kg.edge_rel]
    pos_nodes = pos_entries = None
    if f.metapath is not None:
        mp = f.metapath
        last = mp.hops
        pos_nodes, pos_entries = [], []
        for i, types in enumerate(mp.node_types):
            base = end_ok if i in (0, last) else node_ok
            m = np.ones(n, bool) if base is None else base.copy()
            if types is not None:
                m &= _type_mask(kg, types)
            pos_nodes.append(_frozen(m))
        for rels in mp.relations:
            hop_ok = rel_ok & _rel_mask(kg, rels, frozenset())
            pos_entries.append(_frozen(hop_ok[kg.edge_rel]))
        pos_nodes, pos_entries = tuple(pos_nodes), tuple(pos_entries)
    return Masks(
        node_ok=None if node_ok is None else _frozen(node_ok),
        end_ok=None if end_ok is None else _frozen(end_ok),
        entry_ok=None if entry_ok is None else _frozen(entry_ok),
        pos_nodes=pos_nodes,
        pos_entries=pos_entries,
    )
