"""What a --kg value names: the built-in KG, or KG files and their format.

Forms (see load_kg): `hpo`; `FORMAT:PATH[,PATH]` with FORMAT one of primekg, triples,
hetionet, kgx; or plain paths, a file, two files or a folder, whose format is sniffed from
the files' headers where that is unambiguous. A nodes or edges file given alone is paired
with the file beside it whose name differs only in "nodes"/"edges".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kgsynth.errors import InputError, UnknownKGError
from kgsynth.kg.delimited import read_head, sniff_header
from kgsynth.kg.tabular import PRIMEKG_COLUMNS

BUILTIN_KGS = ("hpo",)
FORMATS = ("primekg", "triples", "hetionet", "kgx")
PRIMEKG_ONLY = set(PRIMEKG_COLUMNS) - {"relation"}  # any of these means PrimeKG
# node/edge file kinds of each two-file format, and the loader format they make
_PAIRS = {"hetionet": ("hetionet-nodes", "hetionet-edges"), "kgx": ("kgx-nodes", "kgx-edges")}
_SUFFIXES = re.compile(r"(\.(gz|bz2))?$")
_EXT = re.compile(r"\.(tsv|sif|csv|txt|json)$")
_ROLE = re.compile(r"nodes|edges")
_RELEASE = re.compile(r"(?:^|[-_.])(v\d+(?:\.\d+)*)(?=$|[-_.])")


@dataclass(frozen=True)
class KGSource:
    """A KG to build: format ('hpo', 'primekg', 'triples', 'hetionet', 'hetionet-json',
    'kgx'), its files (nodes before edges) and a name for the KG and its cache folder."""

    fmt: str
    files: tuple[Path, ...]
    name: str


def unknown(spec: str, why: str) -> UnknownKGError:
    return UnknownKGError(
        f"--kg '{spec}': {why}. Give a built-in KG ({', '.join(BUILTIN_KGS)}), a file or "
        "folder (PrimeKG kg.csv, head/relation/tail triples, Hetionet nodes TSV + edges "
        "SIF or hetnet JSON, KGX nodes + edges TSV), or FORMAT:PATH[,PATH] with FORMAT one "
        f"of {', '.join(FORMATS)}"
    )


def resolve_spec(spec: str) -> KGSource:
    fmt, colon, rest = spec.partition(":")
    forced = fmt if colon and fmt in FORMATS and not Path(spec).exists() else None
    target = rest if forced else spec
    if not target.strip():
        raise unknown(spec, "no path given")
    if Path(target).expanduser().exists() or "," not in target:
        paths = [Path(target).expanduser()]
    else:
        paths = [Path(p.strip()).expanduser() for p in target.split(",") if p.strip()]
    missing = [p for p in paths if not p.exists()]
    if missing:
        what = "is neither a built-in KG nor an existing file" if not forced else "not found"
        raise unknown(spec, f"{missing[0]} {what}")
    if len(paths) > 2:
        raise unknown(spec, "at most two files (nodes, edges) make one KG")
    if len(paths) == 2:
        return _from_pair(spec, paths[0], paths[1], forced)
    if paths[0].is_dir():
        return _from_dir(spec, paths[0], forced)
    return _from_file(spec, paths[0], forced)


def file_kind(path: Path) -> str:
    """primekg, triples, hetionet-json, hetionet-nodes, hetionet-edges, kgx-nodes or
    kgx-edges, from the file's first bytes (decompressed)."""
    head = read_head(path)
    # JSON by its first byte or by name, so the JSON loader reports what is wrong in it
    if head.lstrip()[:1] in (b"{", b"[") or ".json" in path.name.lower():
        return "hetionet-json"
    _, fields = sniff_header(str(path), head)
    h = set(fields)
    if {"source", "metaedge", "target"} <= h:
        return "hetionet-edges"
    if {"subject", "predicate", "object"} <= h:
        return "kgx-edges"
    if {"id", "category"} <= h:
        return "kgx-nodes"
    if {"id", "kind"} <= h:
        return "hetionet-nodes"
    # any PrimeKG-only column means PrimeKG, so a missing one is named by its loader
    if PRIMEKG_ONLY & h:
        return "primekg"
    return "triples"


def release_of(files: tuple[Path, ...]) -> str | None:
    """A version in the file names, as releases are named: hetionet-v1.0-nodes.tsv -> v1.0."""
    for path in files:
        m = _RELEASE.search(base_name(path))
        if m:
            return m.group(1)
    return None


def base_name(path: Path) -> str:
    """The file name without compression and format suffixes: kg.csv.gz -> kg."""
    return _EXT.sub("", _SUFFIXES.sub("", path.name))


def _pair_key(path: Path) -> str:
    name = base_name(path)
    spans = list(_ROLE.finditer(name))
    if not spans:
        return name
    m = spans[-1]
    return name[: m.start()] + "*" + name[m.end() :]


def _pair_name(nodes: Path) -> str:
    name = _pair_key(nodes).replace("*", "").strip("-_. ")
    return name or nodes.resolve().parent.name or "kg"


def _family(kind: str) -> str | None:
    for fmt, kinds in _PAIRS.items():
        if kind in kinds:
            return fmt
    return None


def _from_file(spec: str, path: Path, forced: str | None) -> KGSource:
    if forced in ("primekg", "triples"):
        return KGSource(forced, (path,), base_name(path))
    kind = file_kind(path)
    if kind == "hetionet-json" and forced in (None, "hetionet"):
        return KGSource("hetionet-json", (path,), base_name(path))
    family = _family(kind)
    if family is not None and forced in (None, family):
        return _with_partner(spec, path, kind, family)
    if forced is None and kind in ("primekg", "triples"):
        return KGSource(kind, (path,), base_name(path))
    raise unknown(spec, f"{path} does not look like a {forced} file (its header says {kind})")


def _with_partner(spec: str, path: Path, kind: str, family: str) -> KGSource:
    nodes_kind, edges_kind = _PAIRS[family]
    want = edges_kind if kind == nodes_kind else nodes_kind
    key = _pair_key(path)
    found = [
        p
        for p in sorted(path.parent.iterdir())
        if p != path and p.is_file() and _pair_key(p) == key and _kind_or_none(p) == want
    ]
    if len(found) != 1:
        why = "no" if not found else "more than one"
        raise unknown(
            spec,
            f"{path} is a {kind} file and {why} matching {want} file lies beside it; "
            f"name both: {family}:NODES,EDGES",
        )
    nodes, edges = (path, found[0]) if kind == nodes_kind else (found[0], path)
    return KGSource(family, (nodes, edges), _pair_name(nodes))


def _from_pair(spec: str, a: Path, b: Path, forced: str | None) -> KGSource:
    if a.is_dir() or b.is_dir():
        raise unknown(spec, "two paths must be two files (nodes, edges)")
    kinds = {file_kind(a): a, file_kind(b): b}
    for family, (nodes_kind, edges_kind) in _PAIRS.items():
        if forced in (None, family) and {nodes_kind, edges_kind} == set(kinds):
            nodes, edges = kinds[nodes_kind], kinds[edges_kind]
            return KGSource(family, (nodes, edges), _pair_name(nodes))
    if forced in _PAIRS:
        # the loader then names the file and the column that is missing
        return KGSource(forced, (a, b), _pair_name(a))
    raise unknown(spec, f"{a} and {b} are not a nodes + edges pair (found {', '.join(kinds)})")


def _kind_or_none(path: Path) -> str | None:
    try:
        return file_kind(path)
    except (InputError, OSError):
        return None


def _from_dir(spec: str, folder: Path, forced: str | None) -> KGSource:
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]
    kinds = {p: _kind_or_none(p) for p in files}
    found: list[KGSource] = []
    for p, kind in kinds.items():
        if kind == "primekg" and forced in (None, "primekg"):
            found.append(KGSource("primekg", (p,), base_name(p)))
        if kind == "hetionet-json" and forced in (None, "hetionet"):
            found.append(KGSource("hetionet-json", (p,), base_name(p)))
    for family, (nodes_kind, edges_kind) in _PAIRS.items():
        if forced not in (None, family):
            continue
        nodes = [p for p, k in kinds.items() if k == nodes_kind]
        edges = [p for p, k in kinds.items() if k == edges_kind]
        if len(nodes) == 1 and len(edges) == 1:
            found.append(KGSource(family, (nodes[0], edges[0]), _pair_name(nodes[0])))
            continue
        for n in nodes:  # several pairs: match them by name
            match = [e for e in edges if _pair_key(e) == _pair_key(n)]
            if len(match) == 1:
                found.append(KGSource(family, (n, match[0]), _pair_name(n)))
    if len(found) == 1:
        return found[0]
    if not found:
        raise unknown(spec, f"no KG files found in folder {folder}")
    listed = "; ".join(f"{s.fmt}:{','.join(str(p) for p in s.files)}" for s in found)
    raise unknown(spec, f"folder {folder} holds several KGs ({listed}); name one")
