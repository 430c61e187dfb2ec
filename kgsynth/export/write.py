"""Write a finished run as a dataset folder a hub can take.

    README.md                         card: YAML front matter (configs, features) + markdown
    data/train-00000-of-00001.parquet exported rows (config `default`)
    rejects.parquet                   every row that left, with stage and reason (`rejects`)
    plots/*.png                       path lengths, entity types, relations, checks, rejects
    build.json                        counts, timings, config, the list of these files

A build's card and a KG-first synthesis' card each bring their own body; the front matter,
statistics, plots and file list are added here, the same for both. The rows come as a frame
or, from a streamed build, as part files (kgsynth.export.parts): those are streamed into the
data file and the statistics are computed from that file lazily, so the export holds no
more than polars' streaming buffers and the small aggregates. Its rejects likewise come as
part files (kgsynth.report.Rejects, spooled): streamed into rejects.parquet, of which only
the stage and reason columns are read back for the statistics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from kgsynth.export.card import files_lines, stats_lines
from kgsynth.export.hub import (
    CARD_FILE,
    PLOTS_DIR,
    REJECTS_FILE,
    SUMMARY_FILE,
    data_file,
    front_matter,
    render_front_matter,
)
from kgsynth.export.out import MANIFEST_KEY, staged_dataset
from kgsynth.export.parts import RowParts
from kgsynth.export.plots import PLOTS, write_plots
from kgsynth.export.rows import rejects_frame
from kgsynth.export.stats import dataset_stats
from kgsynth.records import Reject
from kgsynth.report import Rejects

ROW_GROUP_ROWS = 10_000


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    # write to a temp name then rename, so a crash never leaves a half-written file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    # row groups of a bounded size: a reader (kgsynth view, a training loader) can fetch
    # one row without decoding the whole file's columns
    frame.write_parquet(tmp, row_group_size=ROW_GROUP_ROWS)
    tmp.replace(path)


def _title(card: str) -> str:
    first = card.lstrip().split("\n", 1)[0]
    return first.removeprefix("# ").strip() if first.startswith("# ") else "kgsynth dataset"


def write_dataset(
    out: Path,
    rows: pl.DataFrame | RowParts,
    rejects: list[Reject] | Rejects,
    card: str,
    summary: dict[str, Any],
    overwrite: bool = False,
    plot_cache: Path | None = None,
) -> dict[str, Path]:
    """Write any kgsynth dataset folder (a build's or a KG-first synthesis'); `card` is the
    markdown body, to which the front matter, statistics, plots and file list are added.

    The folder is written whole beside `out` and renamed into place (kgsynth.export.out):
    `out` must be new, empty or, with `overwrite`, a kgsynth dataset of kgsynth's files only,
    else OutputError and nothing is touched. Spooled rejects are read back from the written
    rejects.parquet from then on (their spool is about to be removed). `plot_cache`: a cache
    folder whose plot cache gives the plots when these statistics were drawn before."""
    with staged_dataset(out, overwrite) as tmp:
        written = _write_files(tmp, rows, rejects, card, summary, plot_cache)
    if isinstance(rejects, Rejects) and rejects.spooled:
        rejects.stored_at(out / written["rejects"])
    return {name: out / rel for name, rel in written.items()}


def _write_rejects(rejects: list[Reject] | Rejects, path: Path) -> tuple[pl.DataFrame, Any]:
    """rejects.parquet; returns the frame the statistics read (stage, reason: all they read)
    and the table the front matter describes (the frame itself when it was in memory)."""
    if not (isinstance(rejects, Rejects) and rejects.spooled):
        rejected = rejects_frame(list(rejects))
        _write_parquet(rejected, path)
        return rejected, rejected
    tmp = path.with_suffix(".parquet.tmp")  # as _write_parquet: whole or absent
    rejects.scan().sink_parquet(tmp, row_group_size=ROW_GROUP_ROWS)
    tmp.replace(path)
    return pl.read_parquet(path, columns=["stage", "reason"]), rejects


def _write_files(
    out: Path,
    rows: pl.DataFrame | RowParts,
    rejects: list[Reject] | Rejects,
    card: str,
    summary: dict[str, Any],
    plot_cache: Path | None = None,
) -> dict[str, Path]:
    """The dataset's files into the (new, empty) folder `out`; name -> path relative to it."""
    paths = {
        "data": Path(data_file()),
        "rejects": Path(REJECTS_FILE),
        "card": Path(CARD_FILE),
        "summary": Path(SUMMARY_FILE),
        "plots": Path(PLOTS_DIR),
    }
    if isinstance(rows, RowParts):
        data = out / paths["data"]
        data.parent.mkdir(parents=True, exist_ok=True)
        rows.write_into(data, ROW_GROUP_ROWS)  # inside the staged folder: whole or absent
        scanned: pl.DataFrame | pl.LazyFrame = pl.scan_parquet(data)
    else:
        _write_parquet(rows, out / paths["data"])
        scanned = rows
    rejected, rejects_table = _write_rejects(rejects, out / paths["rejects"])

    stats = dataset_stats(scanned, rejected)
    plots = write_plots(out / paths["plots"], stats, plot_cache)
    links = {name: p.relative_to(out).as_posix() for name, p in plots.items() if name in PLOTS}
    meta = front_matter(rows, rejects_table, _title(card))
    text = (
        render_front_matter(meta)
        + card.rstrip("\n")
        + "\n"
        + "\n".join(stats_lines(stats, links) + files_lines())
    )
    (out / paths["card"]).write_text(text, encoding="utf-8")
    # the list of what the writer wrote marks the folder as kgsynth's: a later run may
    # replace these files, and no other (kgsynth.export.out)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    summary = summary | {MANIFEST_KEY: sorted([*files, SUMMARY_FILE])}
    (out / paths["summary"]).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return paths
