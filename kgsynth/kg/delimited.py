"""Delimited KG files (CSV or TSV; plain, gzip or bzip2) read into all-string polars frames.

Malformed files fail with an InputError naming the file, the line and what is wrong. The
line-by-line scans that find the line run only after polars has failed or padded a row, so
a good file is read by polars alone. A compressed file is decompressed in chunks into a
temporary file, which polars then reads like a plain one: never whole into memory, where a
1 MB gzip of a few hundred MB of text took GBs (the bytes, polars' copy, the frame).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from kgsynth.errors import InputError

_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_CHUNK = 1 << 20  # bytes per read while decompressing to a temporary file


def compression(path: Path) -> str | None:
    """'gzip' or 'bzip2' by the file's magic bytes (names lie: .tsv.gz files get renamed)."""
    with path.open("rb") as fh:
        magic = fh.read(3)
    if magic[:2] == _GZIP:
        return "gzip"
    if magic == _BZIP2:
        return "bzip2"
    return None


def read_bytes(path: Path) -> bytes:
    """The whole file, decompressed (for a JSON document, parsed whole anyway)."""
    kind = compression(path)
    try:
        if kind == "gzip":
            return gzip.decompress(path.read_bytes())
        if kind == "bzip2":
            return bz2.decompress(path.read_bytes())
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise InputError(str(path), f"corrupt {kind} data ({e})") from e
    return path.read_bytes()


def read_head(path: Path, n: int = 65536) -> bytes:
    """The first n decompressed bytes, without decompressing the rest."""
    kind = compression(path)
    opener = {"gzip": gzip.open, "bzip2": bz2.open}.get(kind or "")
    try:
        if opener is None:
            with path.open("rb") as fh:
                return fh.read(n)
        with opener(path, "rb") as zf:
            return zf.read(n)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise InputError(str(path), f"corrupt {kind} data ({e})") from e


def decompress_to_temp(path: Path) -> Any:
    """A named temporary file holding `path` decompressed, copied in chunks; it is deleted
    when the returned object is closed or garbage-collected. None for a plain file."""
    kind = compression(path)
    opener = {"gzip": gzip.open, "bzip2": bz2.open}.get(kind or "")
    if opener is None:
        return None
    tmp = tempfile.NamedTemporaryFile(prefix="kgsynth-kg-", suffix=".txt")  # noqa: SIM115
    try:
        with opener(path, "rb") as zf:
            shutil.copyfileobj(zf, tmp, _CHUNK)
        tmp.flush()
    except (OSError, EOFError, ValueError, zlib.error) as e:
        tmp.close()
        raise InputError(str(path), f"corrupt {kind} data ({e})") from e
    except BaseException:
        tmp.close()
        raise
    return tmp


@dataclass(frozen=True)
class TextFile:
    """A KG file to read: polars reads a plain file itself (memory-mapped); a compressed one
    is first decompressed into a temporary file (`plain`), kept while this object lives."""

    path: Path  # the user's file: the one every error names
    plain: Path  # what is read: `path` itself, or its decompressed temporary copy
    _tmp: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def open(cls, path: Path) -> TextFile:
        tmp = decompress_to_temp(path)
        return cls(path, path if tmp is None else Path(tmp.name), tmp)

    @property
    def name(self) -> str:
        return str(self.path)

    def source(self) -> Path:
        return self.plain

    def binary_lines(self) -> Iterator[bytes]:
        with self.plain.open("rb") as fh:
            yield from fh

    def text(self) -> IO[str]:
        """Decoded text for the csv module (newline='' as csv wants)."""
        return self.plain.open(encoding="utf-8", newline="")

    def first_line(self) -> bytes:
        with self.plain.open("rb") as fh:
            return fh.readline()


def sniff(f: TextFile) -> tuple[str, list[str]]:
    """The file's delimiter and header fields."""
    return sniff_header(f.name, f.first_line())


def sniff_header(name: str, raw: bytes) -> tuple[str, list[str]]:
    first = raw.split(b"\n", 1)[0]
    try:
        line = first.decode("utf-8-sig")  # a BOM (Excel exports) is not part of a name
    except UnicodeDecodeError as e:
        raise InputError(name, f"not UTF-8 text ({e.reason})", line=1) from e
    if not line.strip():
        raise InputError(name, "empty file: expected a header line", line=1)
    sep = "\t" if line.count("\t") > line.count(",") else ","
    header = next(csv.reader([line.rstrip("\r\n")], delimiter=sep))
    return sep, [h.strip() for h in header]


def read(f: TextFile, sep: str, columns: list[str], header: list[str]) -> pl.DataFrame:
    """The named columns as strings; empty fields read as ''."""
    # a row with too few fields is padded with nulls, so its last field is always null:
    # read the header's last column too, and scan for ragged rows only when it has nulls
    last = header[-1]
    if not last or header.count(last) > 1:  # no usable name (a trailing separator): all
        last = ""
    wanted = columns if not last or last in columns else [*columns, last]
    try:
        df = pl.read_csv(
            f.source(),
            separator=sep,
            infer_schema_length=0,
            columns=wanted,
            quote_char='"',
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as e:
        raise_if_ragged(f, sep, e)
        raise InputError(f.name, f"cannot parse: {str(e).splitlines()[0]}") from e
    if (df[last].null_count() if last else df.null_count().sum_horizontal().item()) > 0:
        raise_if_ragged(f, sep)
    if df.height == 0:  # a header alone is no KG (and would fail later, far from the file)
        raise InputError(f.name, "no rows after the header", line=2)
    # polars reads an empty field as null (the option to read it as "" was renamed between
    # polars 1 and 2), so fill nulls here: every column is a string column
    return df.select(pl.col(c).fill_null("") for c in columns)


def raise_if_ragged(f: TextFile, sep: str, cause: Exception | None = None) -> None:
    for i, raw in enumerate(f.binary_lines(), 1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f.name, f"not UTF-8 text ({e.reason})", line=i) from e
    bad = _first_bad_line(f, sep)
    if bad is not None:
        line, message = bad
        raise InputError(f.name, message, line=line) from cause


def _first_bad_line(f: TextFile, sep: str) -> tuple[int, str] | None:
    """The first record with another field count than the header, or that opens a quote no
    later quote closes (a file cut in a quoted field): its line and what is wrong.

    Only when polars failed or padded a row. The reader is strict because only a strict
    one says that the data ended inside quotes (a lenient one returns the record as if it
    were whole); its other complaints ('"a"b') are not this scan's business."""
    with f.text() as fh:
        reader = csv.reader(fh, delimiter=sep, strict=True)
        want = len(next(reader, []))
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return None
            except csv.Error as e:
                if "end of data" in str(e):
                    return start, "a quoted field opened here never closes: is the file cut short?"
                continue
            if row and len(row) != want:
                return reader.line_num, f"row has {len(row)} fields, header has {want}"


def require(f: TextFile, header: list[str], required: list[str], layout: str) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(
            f.name,
            f"{layout} file is missing column(s) {', '.join(missing)}",
            line=1,
            field=missing[0],
        )


def no_empty(f: TextFile, df: pl.DataFrame, cols: list[str]) -> None:
    blank = [pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in cols]
    if not cols or not df.select(pl.any_horizontal(blank).any()).item():
        return  # one pass over a good file; the row numbers only when one is bad
    for col, is_blank in zip(cols, blank, strict=True):
        bad = df.with_row_index("row").filter(is_blank)
        if bad.height:
            line = int(bad["row"][0]) + 2  # 1-based, after the header
            raise InputError(f.name, f"empty value ({bad.height} rows)", line=line, field=col)


def known_ids(f: TextFile, df: pl.DataFrame, col: str, ids: pl.Series, what: str) -> None:
    """Every value of df[col] is one of ids, else an error at the first row that is not.
    df rows are the file's data rows in order, or carry their index as 'row' (line = row + 2)."""
    rows = df if "row" in df.columns else df.with_row_index("row")
    bad = rows.filter(~pl.col(col).is_in(ids.implode()))
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(
            f.name,
            f"edge to unknown node '{row[col]}': not in the {what} ({bad.height} such edges)",
            line=int(row["row"]) + 2,
            field=col,
        )


def read_table(
    path: Path,
    required: list[str],
    optional: list[str],
    layout: str,
    non_empty: list[str] | None = None,
) -> tuple[TextFile, pl.DataFrame]:
    """Open, check the header, read required + present optional columns, check that no
    non_empty field (default: the required ones) is blank. Absent optional columns come
    back as '' columns."""
    f = TextFile.open(path)
    sep, header = sniff(f)
    require(f, header, required, layout)
    df = read(f, sep, required + [c for c in optional if c in header], header)
    no_empty(f, df, required if non_empty is None else non_empty)
    missing = [pl.lit("").alias(c) for c in optional if c not in df.columns]
    return f, df.with_columns(missing) if missing else df
