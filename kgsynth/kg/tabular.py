"""User KG files read with polars: PrimeKG's kg.csv layout and plain triples.

Malformed files fail with an InputError naming the file, the line and what is wrong.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from kgsynth.errors import InputError
from kgsynth.kg.graph import KnowledgeGraph

PRIMEKG_COLUMNS = [
    "relation", "display_relation", "x_index", "x_id", "x_type", "x_name", "x_source",
    "y_index", "y_id", "y_type", "y_name", "y_source",
]
TRIPLE_COLUMNS = ["head", "relation", "tail"]
TRIPLE_OPTIONAL = ["head_type", "tail_type", "head_name", "tail_name"]


def sniff(path: Path) -> tuple[str, list[str]]:
    """The file's delimiter and header fields."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            first = fh.readline()
    except UnicodeDecodeError as e:
        raise InputError(str(path), f"not UTF-8 text ({e.reason})", line=1) from e
    if not first.strip():
        raise InputError(str(path), "empty file: expected a header line", line=1)
    sep = "\t" if first.count("\t") > first.count(",") else ","
    header = next(csv.reader([first], delimiter=sep))
    return sep, [h.strip() for h in header]


def _read(path: Path, sep: str, columns: list[str]) -> pl.DataFrame:
    try:
        return pl.read_csv(
            path, separator=sep, infer_schema_length=0, columns=columns, quote_char='"',
            missing_utf8_is_empty_string=True,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as e:
        bad = _first_ragged_line(path, sep)
        if bad is not None:
            line, n, want = bad
            raise InputError(str(path), f"row has {n} fields, header has {want}", line=line) from e
        raise InputError(str(path), f"cannot parse: {str(e).splitlines()[0]}") from e


def _first_ragged_line(path: Path, sep: str) -> tuple[int, int, int] | None:
    # only on the error path: find the exact line polars stumbled on
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=sep)
        want = len(next(reader))
        for row in reader:
            if row and len(row) != want:
                return reader.line_num, len(row), want
    return None


def _require(path: Path, header: list[str], required: list[str], layout: str) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(
            str(path), f"{layout} file is missing column(s) {', '.join(missing)}", line=1,
            field=missing[0],
        )


def _no_empty(path: Path, df: pl.DataFrame, cols: list[str]) -> None:
    for col in cols:
        bad = df.with_row_index("row").filter(
            pl.col(col).is_null() | (pl.col(col).str.strip_chars() == "")
        )
        if bad.height:
            line = int(bad["row"][0]) + 2  # 1-based, after the header
            raise InputError(str(path), f"empty value ({bad.height} rows)", line=line, field=col)


def _nodes_from(ends: list[pl.DataFrame]) -> pl.DataFrame:
    return (
        pl.concat(ends)
        .unique("id", keep="first", maintain_order=True)
        .with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("synonyms"))
    )


def load_primekg(path: Path) -> KnowledgeGraph:
    sep, header = sniff(path)
    _require(path, header, PRIMEKG_COLUMNS, "PrimeKG")
    df = _read(path, sep, PRIMEKG_COLUMNS)
    _no_empty(path, df, ["relation", "x_id", "x_type", "y_id", "y_type"])
    # PrimeKG ids are only unique within a type/source (e.g. gene 1 vs drug 1): qualify them
    df = df.with_columns(
        (pl.col("x_source") + ":" + pl.col("x_id")).alias("h"),
        (pl.col("y_source") + ":" + pl.col("y_id")).alias("t"),
    )
    nodes = _nodes_from(
        [
            df.select(pl.col("h").alias("id"), pl.col("x_name").alias("name"), pl.col("x_type").alias("type")),
            df.select(pl.col("t").alias("id"), pl.col("y_name").alias("name"), pl.col("y_type").alias("type")),
        ]
    )
    edges = df.select(pl.col("h").alias("head"), "relation", pl.col("t").alias("tail"))
    return KnowledgeGraph.from_frames(
        path.stem, nodes, edges, {"source": str(path), "format": "primekg"}, source=str(path)
    )


def load_triples(path: Path) -> KnowledgeGraph:
    sep, header = sniff(path)
    _require(path, header, TRIPLE_COLUMNS, "triples")
    cols = TRIPLE_COLUMNS + [c for c in TRIPLE_OPTIONAL if c in header]
    df = _read(path, sep, cols)
    _no_empty(path, df, TRIPLE_COLUMNS)
    for c in TRIPLE_OPTIONAL:
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    nodes = _nodes_from(
        [
            df.select(
                pl.col("head").alias("id"),
                pl.coalesce("head_name", "head").alias("name"),
                pl.col("head_type").fill_null("entity").alias("type"),
            ),
            df.select(
                pl.col("tail").alias("id"),
                pl.coalesce("tail_name", "tail").alias("name"),
                pl.col("tail_type").fill_null("entity").alias("type"),
            ),
        ]
    )
    return KnowledgeGraph.from_frames(
        path.stem, nodes, df.select(TRIPLE_COLUMNS), {"source": str(path), "format": "triples"},
        source=str(path),
    )
