"""`kgsynth cache`: what the cache folder holds, whether it is sound, and clearing it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kgsynth import cache_layout as layout
from kgsynth.cli_common import CacheDirOption, fail
from kgsynth.defaults import DEFAULT_CACHE_DIR

cache_app = typer.Typer(no_args_is_help=True, help=__doc__)

ResultDirOption = Annotated[
    Path | None,
    typer.Option(help="shard result folder, when a build config names one (run.result_dir)"),
]
KindOption = Annotated[
    list[str] | None,
    typer.Option("--kind", help=f"only these kinds: {', '.join(layout.KINDS)} (repeatable)"),
]


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _kinds(kind: list[str] | None) -> tuple[str, ...]:
    bad = sorted(set(kind or ()) - set(layout.KINDS))
    if bad:
        fail(f"--kind {', '.join(bad)}: not a cache kind (kinds: {', '.join(layout.KINDS)})")
    return tuple(kind) if kind else layout.KINDS


def _folder(cache_dir: Path | None) -> Path:
    return (cache_dir or DEFAULT_CACHE_DIR).expanduser()


@cache_app.command("info")
def info(cache_dir: CacheDirOption = None, result_dir: ResultDirOption = None) -> None:
    """Entries and sizes per cache kind, and per KG."""
    from kgsynth.cache_inventory import entries, kg_names, matches_kg

    root = _folder(cache_dir)
    found = entries(root, result_dir)
    out = Console()
    table = Table(title=f"kgsynth cache {escape(str(root))}")
    for col in ("kind", "entries", "size", "older format / set aside"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for kind in layout.KINDS:
        mine = [e for e in found if e.kind == kind]
        stale = [e for e in mine if e.stale]
        table.add_row(
            kind,
            str(len(mine)),
            _size(sum(e.size for e in mine)),
            f"{len(stale)} ({_size(sum(e.size for e in stale))})" if stale else "",
        )
    table.add_section()
    table.add_row("all", str(len(found)), _size(sum(e.size for e in found)), "")
    out.print(table)
    names = kg_names(found)
    if names:
        by_kg = Table(title="by KG (kg, aliases, linker entries)")
        for col in ("KG", "hash", "entries", "size"):
            by_kg.add_column(col, justify="right" if col in ("entries", "size") else "left")
        for kg_hash, name in sorted(names.items(), key=lambda kv: kv[1]):
            mine = [e for e in found if matches_kg(e, kg_hash, names)]
            by_kg.add_row(
                escape(name), kg_hash[:12], str(len(mine)), _size(sum(e.size for e in mine))
            )
        out.print(by_kg)


@cache_app.command("verify")
def verify(
    cache_dir: CacheDirOption = None,
    result_dir: ResultDirOption = None,
    kind: KindOption = None,
    discard: Annotated[
        bool, typer.Option(help="remove damaged entries now (a build would rebuild them)")
    ] = False,
) -> None:
    """Hash every file of every entry against its manifest, check shard seals and the LLM
    cache. Exits 1 when damage is found (and not discarded)."""
    from rich.progress import Progress

    from kgsynth.cache_inventory import entries, remove
    from kgsynth.cache_inventory import verify as check

    kinds = _kinds(kind)
    found = [e for e in entries(_folder(cache_dir), result_dir) if e.kind in kinds]
    damaged = []
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("verifying", total=len(found))
        for entry in found:
            why = check(entry)
            if why is not None:
                damaged.append((entry, why))
            bar.advance(task)
    out = Console()
    for entry, why in damaged:
        out.print(f"[red]damaged[/] {entry.kind} {escape(str(entry.path))}: {escape(why)}")
        if discard:
            if entry.kind == layout.LLM:  # kept for a post-mortem, as a build would
                from kgsynth.llm.cache import move_aside

                move_aside(entry.path)
            else:
                remove(entry)
    out.print(
        f"{len(found)} entries checked, {len(damaged)} damaged"
        + (" (discarded)" if discard and damaged else "")
    )
    if damaged and not discard:
        raise typer.Exit(1)


@cache_app.command("clear")
def clear(
    cache_dir: CacheDirOption = None,
    result_dir: ResultDirOption = None,
    kind: KindOption = None,
    kg: Annotated[
        str | None, typer.Option(help="only what was made from this KG (name or hash prefix)")
    ] = None,
    stale: Annotated[
        bool, typer.Option(help="only entries of older formats and set-aside files")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
) -> None:
    """Remove cache entries: by kind, by KG, or those no build reads any more. The LLM
    cache holds paid replies: clear it only when no build is using it."""
    from kgsynth.cache_inventory import drop_kg_pointers, entries, kg_names, matches_kg, remove

    if not (kind or kg or stale):
        fail("say what to clear: --kind KIND (repeatable), --kg NAME and/or --stale")
    root = _folder(cache_dir)
    found = entries(root, result_dir)
    kinds = _kinds(kind)
    chosen = [e for e in found if e.kind in kinds and (e.stale or not stale)]
    if kg is not None:
        names = kg_names(found)
        chosen = [e for e in chosen if matches_kg(e, kg, names)]
        if not chosen:
            fail(f"--kg {kg}: no cache entry was made from a KG of that name or hash")
    size = sum(e.size for e in chosen)
    summary = f"{len(chosen)} entries, {_size(size)}"
    if chosen and not yes:
        typer.confirm(f"remove {summary} from {root}?", abort=True, err=True)
    for entry in chosen:
        remove(entry)
    pointers = 0
    if layout.KG in kinds and not stale and kg is None:
        pointers = drop_kg_pointers(root, None)  # every graph went: every pointer goes
    elif gone := {e.kg for e in chosen if e.kind == layout.KG and e.kg}:
        pointers = drop_kg_pointers(root, gone)
    Console().print(
        f"removed {summary}" + (f" and {pointers} KG source pointers" if pointers else "")
    )
