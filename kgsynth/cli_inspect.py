"""`kgsynth inspect DATASET`: a dataset folder's summary and a few rows, readably."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kgsynth.cli_common import fail

# polars and the export modules (which reach spaCy through the check registry) load inside
# the command: `kgsynth --help` and every other command stay quick
if TYPE_CHECKING:
    import polars as pl

TOP = 15


def _summary_json(folder: Path) -> dict[str, Any]:
    from kgsynth.export.hub import SUMMARY_FILE

    f = folder / SUMMARY_FILE
    if not folder.is_dir() or not f.is_file():
        return {}
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{f}: cannot read ({e})")


def _table(title: str, frame: pl.DataFrame, formats: dict[str, str] | None = None) -> Table:
    formats = formats or {}
    t = Table(title=title, title_justify="left")
    for col, dtype in frame.schema.items():
        t.add_column(col, justify="right" if dtype.is_numeric() else "left")
    for row in frame.iter_rows(named=True):  # summary tables: a handful of lines
        t.add_row(
            *(
                "–" if v is None else formats.get(k, "{}").format(v) if k in formats else str(v)
                for k, v in row.items()
            )
        )
    return t


def _print_summary(out: Console, path: Path, rows: pl.DataFrame, rejects: pl.DataFrame | None):
    from kgsynth.export.stats import check_rates, per_source, rejects_by_reason

    info = _summary_json(path)
    counts = info.get("counts", {})
    head = Text()
    head.append(f"{path}\n", style="bold")
    head.append(f"exported rows {rows.height}")
    if rejects is not None:
        head.append(f", rejected {rejects.height}")
    if counts.get("input") is not None:
        head.append(f", input {counts['input']}")
        if rejects is not None:
            ok = counts["input"] == rows.height + rejects.height
            head.append("  (input = exported + rejected)" if ok else "  (does NOT balance)")
    kg = rows.select("kg_name", "kg_hash").unique().sort("kg_name")
    for name, h in kg.iter_rows():
        head.append(f"\nKG {name} (hash {(h or '')[:16]})")
    dedup = (info.get("stages") or {}).get("dedup") or {}
    if dedup.get("enabled"):
        head.append(
            f"\ndedup: {dedup['exact']} exact + {dedup['near']} near duplicates dropped "
            f"of {dedup['checked']} (Jaccard >= {dedup.get('threshold')})"
        )
    out.print(Panel(head, title="kgsynth dataset", expand=False))

    if rows.height:
        out.print(
            _table(
                "Per source",
                per_source(rows).select("source", "rows", "paths_per_row", "mean_hops"),
                {"paths_per_row": "{:.2f}", "mean_hops": "{:.2f}"},
            )
        )
        versions = (
            rows.group_by("generator", "model", "prompt_version")
            .len("rows")
            .sort("rows", descending=True)
        )
        out.print(_table("Generator / model / prompt", versions))
    if rejects is not None and rejects.height:
        out.print(_table("Rejected, by stage / reason", rejects_by_reason(rejects).head(TOP)))
    if "checks" in rows.columns:
        rates = check_rates(rows, rejects).select("check", "judged", "passed", "rate")
        out.print(_table("Pass rate by check (rows that reached it)", rates, {"rate": "{:.1%}"}))


def _checks_text(checks: dict[str, Any] | None, names: list[str]) -> Text:
    t = Text()
    for name in names:
        v = (checks or {}).get(name)
        if v is None:
            continue  # did not run for this row
        t.append(f"{name} ", style="")
        t.append("✓  " if v else "✗  ", style="green" if v else "bold red")
    for reason in (checks or {}).get("reasons") or []:
        t.append(f"\n  {reason}", style="yellow")
    return t


def _row_panel(row: dict[str, Any], names: list[str]) -> Panel:
    from kgsynth.export.rows import path_of
    from kgsynth.paths.format import format_path

    parts: list[Any] = []
    parts.append(Text("Question", style="bold cyan"))
    parts.append(Text(row["question"] or ""))
    gold = row.get("answer_idx")
    if row.get("options"):
        opts = Text()
        for o in row["options"]:
            mark = o["letter"] == gold
            opts.append(
                f"{'✓' if mark else ' '} {o['letter']}. {o['text']}\n",
                style="bold green" if mark else "",
            )
        parts.append(opts)
    else:
        parts.append(Text(f"Answer: {row.get('answer')}", style="bold green"))
    q_ids = {e["kg_id"] for e in row.get("question_entities") or []}
    paths = [p for p in row.get("paths") or [] if p]
    parts.append(
        Text(f"Paths ({len(paths)} of {row.get('n_paths_found')} found)", style="bold cyan")
    )
    parts.append(Text("\n".join(f"  {format_path(path_of(p, q_ids))}" for p in paths) or "  –"))
    parts.append(Text("Reasoning", style="bold cyan"))
    parts.append(Text(row.get("reasoning") or ""))
    parts.append(Text("Conclusion", style="bold cyan"))
    parts.append(Text(row.get("conclusion") or ""))
    parts.append(Text("Checks", style="bold cyan"))
    parts.append(_checks_text(row.get("checks"), names))
    title = f"{row['id']}  ·  {row.get('source')}"
    return Panel(Group(*parts), title=title, title_align="left")


def inspect_dataset(
    dataset: Annotated[Path, typer.Argument(help="dataset folder (or one of its Parquet files)")],
    rows: Annotated[int, typer.Option("--rows", "-n", min=0, help="rows to show")] = 3,
    row_ids: Annotated[
        list[str] | None, typer.Option("--id", help="show the row with this id (repeatable)")
    ] = None,
) -> None:
    """Summarise a dataset (rows, rejects, sources, checks, versions) and show a few rows."""
    import polars as pl

    from kgsynth.export.hub import DatasetError, read_dataset, read_rejects
    from kgsynth.export.stats import check_names

    try:
        data = read_dataset(dataset)
        rejects = read_rejects(dataset) if dataset.is_dir() else None
    except DatasetError as e:
        fail(str(e))
    out = Console()
    _print_summary(out, dataset, data, rejects)
    if row_ids:
        shown = data.filter(pl.col("id").is_in(row_ids))
        missing = sorted(set(row_ids) - set(shown["id"].to_list()))
        if missing:
            why = ""
            if rejects is not None:
                gone = rejects.filter(pl.col("id").is_in(missing))
                why = "".join(
                    f"; '{i}' was rejected at {s}: {r} ({d})"
                    for i, s, r, d in gone.select("id", "stage", "reason", "detail").iter_rows()
                )
            fail(f"{dataset}: no exported row with id {', '.join(map(repr, missing))}{why}")
    else:
        shown = data.head(rows)
    names = check_names(data) if "checks" in data.columns else []
    for row in shown.iter_rows(named=True):  # a few rows at most: printed one by one
        out.print(_row_panel(row, names))
