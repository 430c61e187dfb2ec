"""The KG formats a --kg value can name: each one registered once, with how to spot and load it.

A format is a KGFormat: a name (the FORMAT of `FORMAT:PATH`), a load function, the roles of
its files (none for a built-in KG, one file, or a nodes + edges pair), optionally a sniff
function that says which role a file plays from its first bytes, and one line of help.
resolve_spec (spec.py), load_kg (load.py), the error messages and the CLI's --kg help all
read this registry; none of them lists formats.

The built-in formats live in kgsynth/kg/formats/, one module each, imported (in name order)
the first time the registry is read: adding a format is adding a module there, or calling
register_format from anywhere before load_kg. This module imports nothing heavy, so the
CLI can build its --help from it.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kgsynth.kg.graph import KnowledgeGraph

# a FORMAT in FORMAT:PATH; two characters at least, so a Windows drive (C:) stays a path
FORMAT_NAME = re.compile(r"[A-Za-z][\w.+-]+")


@dataclass(frozen=True)
class KGSource:
    """A KG to build: a registered format's name, its files in the order of the format's
    roles (nodes before edges; a built-in's source files) and a name for the KG."""

    fmt: str
    files: tuple[Path, ...]
    name: str


class FileHead:
    """The start of a file as sniff functions see it: its first 64 KiB decompressed, and,
    read on first use, the fields of its first line as a CSV/TSV header."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @cached_property
    def raw(self) -> bytes:
        from kgsynth.kg.delimited import read_head

        return read_head(self.path)

    @cached_property
    def first_line(self) -> str:
        line = self.raw.split(b"\n", 1)[0]
        return line.decode("utf-8-sig", errors="replace").rstrip("\r")

    @cached_property
    def fields(self) -> frozenset[str]:
        """Header fields; raises InputError for an empty or non-UTF-8 first line."""
        from kgsynth.kg.delimited import sniff_header

        return frozenset(sniff_header(str(self.path), self.raw)[1])


# what a sniff function answers for a file: the role it plays in the format (one of the
# format's `files`), True for a one-file format's only role, or None/False: not this format
Sniff = Callable[[FileHead], str | bool | None]


@dataclass(frozen=True)
class KGFormat:
    """A KG format: see the module doc.

    name: the FORMAT of FORMAT:PATH, KGSource.fmt, part of the cache key.
    load: builds the KG from a KGSource of this format.
    help: one line naming what the files are ("KGX nodes + edges TSV"), for messages.
    files: the roles of the files load reads, in order: () for a built-in KG (then
        source_files lists what it is built from), one role, or two ("nodes", "edges").
        Two files given alone are paired by name: the other file's name differs only in
        the role word (hetionet-v1.0-nodes.tsv + hetionet-v1.0-edges.sif.gz).
    sniff: the role a file plays, from FileHead; formats are asked in registration order
        (fallbacks last) and the first that claims a file wins. None: never sniffed, only
        read as FORMAT:PATH.
    family: another FORMAT name that also selects it (hetionet-json: "hetionet", so
        hetionet:FILE reads either Hetionet layout).
    fallback: claims what no other format does (triples): asked last, and never picked
        from a folder, where it would claim every file.
    version: bump when load reads the same files differently; part of the cache key.
    example: a FORMAT:PATH example for --help.
    """

    name: str
    load: Callable[[KGSource], KnowledgeGraph]
    help: str
    files: tuple[str, ...] = ("kg",)
    sniff: Sniff | None = None
    family: str = ""
    fallback: bool = False
    source_files: Callable[[], Sequence[Path]] | None = None
    version: str = ""
    example: str = ""

    def __post_init__(self) -> None:
        if not FORMAT_NAME.fullmatch(self.name):
            raise ValueError(f"KG format name {self.name!r} must match {FORMAT_NAME.pattern}")
        if len(self.files) > 2 or len(set(self.files)) != len(self.files):
            raise ValueError(f"KG format {self.name}: files must be 0, 1 or 2 distinct roles")
        if self.builtin and (self.source_files is None or self.sniff is not None):
            raise ValueError(f"built-in KG {self.name} needs source_files and no sniff")

    @property
    def builtin(self) -> bool:
        """A KG named by its name alone (`hpo`), built from files it finds itself."""
        return not self.files

    @property
    def selector(self) -> str:
        """The FORMAT that names it in messages ("name both: hetionet:NODES,EDGES")."""
        return self.family or self.name

    def kind(self, role: str) -> str:
        """A file's kind in messages: the format, and the role of a pair's file."""
        return self.name if len(self.files) < 2 else f"{self.name}-{role}"

    def role_of(self, head: FileHead) -> str | None:
        """The role the file plays in this format, or None (sniff's True: the only role)."""
        if self.sniff is None:
            return None
        role = self.sniff(head)
        if role is True:
            return self.files[0]
        if role and role not in self.files:
            raise ValueError(f"KG format {self.name}: sniff gave {role!r}, not one of its files")
        return role or None


_formats: dict[str, KGFormat] = {}
_lock = threading.RLock()
_started = False
_done = False


def _discover() -> None:
    """Import kgsynth/kg/formats/ once, so its modules register the built-in formats
    before any other (their order is the sniffing order). Another thread waits until all
    are in; the importing thread itself goes on (its format modules register)."""
    global _started, _done
    if _done:
        return
    with _lock:
        if _started:
            return
        _started = True
        try:
            importlib.import_module("kgsynth.kg.formats")
        except BaseException:
            _started = False
            raise
        _done = True


def register_format(fmt: KGFormat, *, replace: bool = False) -> KGFormat:
    """Add a format (after the built-in ones); replace=True swaps one of the same name."""
    _discover()
    if fmt.name in _formats and not replace:
        raise ValueError(f"KG format {fmt.name!r} is already registered")
    _formats[fmt.name] = fmt
    return fmt


def unregister_format(name: str) -> None:
    _formats.pop(name, None)


def formats() -> tuple[KGFormat, ...]:
    """Every registered format, in registration order."""
    _discover()
    return tuple(_formats.values())


def get_format(name: str) -> KGFormat:
    _discover()
    try:
        return _formats[name]
    except KeyError:
        raise KeyError(f"no KG format {name!r} is registered") from None


def get_builtin(name: str) -> KGFormat | None:
    """The built-in KG of that name, if one is registered."""
    return next((f for f in formats() if f.builtin and f.name == name), None)


def builtin_names() -> tuple[str, ...]:
    return tuple(f.name for f in formats() if f.builtin)


def file_formats() -> tuple[KGFormat, ...]:
    """The formats read from files, in sniffing order: fallbacks last."""
    found = [f for f in formats() if not f.builtin]
    return tuple(sorted(found, key=lambda f: f.fallback))


def select(name: str) -> tuple[KGFormat, ...]:
    """The file formats FORMAT:PATH with this FORMAT may read (its name or its family)."""
    return tuple(f for f in file_formats() if name in (f.name, f.family))


def format_names() -> tuple[str, ...]:
    """Every FORMAT accepted in FORMAT:PATH, in registration order."""
    names = [n for f in formats() if not f.builtin for n in (f.selector, f.name)]
    return tuple(dict.fromkeys(names))


def sniffed_help() -> str:
    """What plain paths may hold: the help of every format that is sniffed."""
    return ", ".join(f.help for f in formats() if f.sniff is not None)


def kg_option_help() -> str:
    """The CLI's --kg help."""
    builtins = " or ".join(f"'{n}'" for n in builtin_names())
    pairs = [f.example for f in formats() if len(f.files) == 2 and f.example]
    example = f" (e.g. {pairs[0]})" if pairs else ""
    return (
        f"{builtins}, a KG file or folder, or FORMAT:PATH[,PATH] with FORMAT one of "
        f"{', '.join(format_names())}{example}"
    )
