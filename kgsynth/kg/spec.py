"""What a --kg value names: a built-in KG, or KG files and their format.

Forms (see load_kg): a built-in KG's name; `FORMAT:PATH[,PATH]` with FORMAT a registered
format (kgsynth/kg/registry.py); or plain paths, a file, two files or a folder, whose
format is sniffed from the files' headers. A file of a two-file format given alone is
paired with the file beside it whose name differs only in the role ("nodes"/"edges").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kgsynth.errors import InputError, UnknownKGError
from kgsynth.kg import registry
from kgsynth.kg.registry import FileHead, KGFormat, KGSource

__all__ = ["KGSource", "base_name", "file_kind", "release_of", "resolve_spec", "unknown"]

_SUFFIXES = re.compile(r"(\.(gz|bz2))?$")
_EXT = re.compile(r"\.(tsv|sif|csv|txt|json)$")
_RELEASE = re.compile(r"(?:^|[-_.])(v\d+(?:\.\d+)*)(?=$|[-_.])")


@dataclass(frozen=True)
class Kind:
    """What a file is: a format and the role the file plays in it."""

    fmt: KGFormat
    role: str

    def __str__(self) -> str:
        return self.fmt.kind(self.role)


def unknown(spec: str, why: str) -> UnknownKGError:
    builtins = ", ".join(registry.builtin_names())
    return UnknownKGError(
        f"--kg '{spec}': {why}. Give a built-in KG ({builtins}), a file or folder "
        f"({registry.sniffed_help()}), or FORMAT:PATH[,PATH] with FORMAT one of "
        f"{', '.join(registry.format_names())}"
    )


def resolve_spec(spec: str) -> KGSource:
    builtin = registry.get_builtin(spec)
    if builtin is not None and builtin.source_files is not None:
        return KGSource(builtin.name, tuple(builtin.source_files()), builtin.name)
    forced, target = _split_format(spec)
    choices = registry.select(forced) if forced else registry.file_formats()
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
        return _from_pair(spec, paths[0], paths[1], forced, choices)
    if paths[0].is_dir():
        return _from_dir(spec, paths[0], choices)
    return _from_file(spec, paths[0], forced, choices)


def _split_format(spec: str) -> tuple[str | None, str]:
    """(FORMAT, PATH) of FORMAT:PATH, or (None, spec) for a plain path."""
    name, colon, rest = spec.partition(":")
    if not colon or Path(spec).exists() or not registry.FORMAT_NAME.fullmatch(name):
        return None, spec
    if registry.get_builtin(name):
        raise unknown(spec, f"'{name}' is a built-in KG and takes no path")
    if not registry.select(name):
        raise unknown(spec, f"unknown KG format '{name}'")
    return name, rest


def file_kind(path: Path) -> Kind | None:
    """The format and role of the first registered format whose sniff claims the file."""
    head = FileHead(path)
    for fmt in registry.file_formats():
        role = fmt.role_of(head)
        if role is not None:
            return Kind(fmt, role)
    return None


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


def _pair_key(path: Path, roles: tuple[str, ...]) -> str:
    """The name with its last role word starred: the key two files of one KG share."""
    name = base_name(path)
    spans = list(re.finditer("|".join(map(re.escape, roles)), name))
    if not spans:
        return name
    m = spans[-1]
    return name[: m.start()] + "*" + name[m.end() :]


def _pair_source(fmt: KGFormat, first: Path, second: Path) -> KGSource:
    name = _pair_key(first, fmt.files).replace("*", "").strip("-_. ")
    return KGSource(fmt.name, (first, second), name or first.resolve().parent.name or "kg")


def _kind_or_none(path: Path) -> Kind | None:
    try:
        return file_kind(path)
    except (InputError, OSError):
        return None


def _from_file(
    spec: str, path: Path, forced: str | None, choices: tuple[KGFormat, ...]
) -> KGSource:
    if forced and len(choices) == 1 and len(choices[0].files) == 1:
        return KGSource(choices[0].name, (path,), base_name(path))  # its loader checks it
    kind = file_kind(path)
    if kind is not None and kind.fmt in choices:
        if len(kind.fmt.files) == 2:
            return _with_partner(spec, path, kind)
        return KGSource(kind.fmt.name, (path,), base_name(path))
    says = f"its header says {kind}" if kind else "no KG format knows its header"
    raise unknown(spec, f"{path} does not look like a {forced or 'KG'} file ({says})")


def _with_partner(spec: str, path: Path, kind: Kind) -> KGSource:
    fmt = kind.fmt
    want = Kind(fmt, next(r for r in fmt.files if r != kind.role))
    key = _pair_key(path, fmt.files)
    found = [
        p
        for p in sorted(path.parent.iterdir())
        if p != path and p.is_file() and _pair_key(p, fmt.files) == key
        if _kind_or_none(p) == want
    ]
    if len(found) != 1:
        why = "no" if not found else "more than one"
        raise unknown(
            spec,
            f"{path} is a {kind} file and {why} matching {want} file lies beside it; "
            f"name both: {fmt.selector}:{','.join(r.upper() for r in fmt.files)}",
        )
    pair = {kind.role: path, want.role: found[0]}
    return _pair_source(fmt, *(pair[r] for r in fmt.files))


def _from_pair(
    spec: str, a: Path, b: Path, forced: str | None, choices: tuple[KGFormat, ...]
) -> KGSource:
    if a.is_dir() or b.is_dir():
        raise unknown(spec, "two paths must be two files (nodes, edges)")
    kinds = {file_kind(a): a, file_kind(b): b}
    pair_formats = [f for f in choices if len(f.files) == 2]
    for fmt in pair_formats:
        if set(kinds) == {Kind(fmt, r) for r in fmt.files}:
            return _pair_source(fmt, *(kinds[Kind(fmt, r)] for r in fmt.files))
    if forced and len(pair_formats) == 1:
        return _pair_source(pair_formats[0], a, b)  # its loader names what is missing
    found = ", ".join(str(k) if k else "unknown" for k in kinds)
    raise unknown(spec, f"{a} and {b} are not a nodes + edges pair (found {found})")


def _from_dir(spec: str, folder: Path, choices: tuple[KGFormat, ...]) -> KGSource:
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]
    kinds = {p: _kind_or_none(p) for p in files}
    found = [
        KGSource(k.fmt.name, (p,), base_name(p))
        for p, k in kinds.items()
        if k is not None and k.fmt in choices and len(k.fmt.files) == 1 and not k.fmt.fallback
    ]
    for fmt in (f for f in choices if len(f.files) == 2):
        firsts, seconds = ([p for p, k in kinds.items() if k == Kind(fmt, r)] for r in fmt.files)
        if len(firsts) == 1 and len(seconds) == 1:
            found.append(_pair_source(fmt, firsts[0], seconds[0]))
            continue
        for n in firsts:  # several pairs: match them by name
            match = [e for e in seconds if _pair_key(e, fmt.files) == _pair_key(n, fmt.files)]
            if len(match) == 1:
                found.append(_pair_source(fmt, n, match[0]))
    if len(found) == 1:
        return found[0]
    if not found:
        raise unknown(spec, f"no KG files found in folder {folder}")
    listed = "; ".join(f"{s.fmt}:{','.join(str(p) for p in s.files)}" for s in found)
    raise unknown(spec, f"folder {folder} holds several KGs ({listed}); name one")
