"""A kgsynth dataset folder, opened read-only for `kgsynth view`, and the viewer's queries.

The folder is untrusted input: it is checked before the server starts (a folder that is not
a kgsynth dataset, a file its build.json lists but that is missing, a Parquet file whose
footer, schema or first row cannot be read → DatasetError naming the file), only the files
kgsynth itself writes are ever opened (never a path build.json names), and nothing is
written.

Rows are read with polars lazy scans. The first page is a slice of the scan (row count
from the Parquet footers), so a 200k-row dataset opens at once. Filters run on a row index,
one frame of the small columns they need (source, answer types, path lengths, relations,
evidence margin, checks), built once by a single scan in a child process
(kgsynth.view.rowindex) while the server already answers: polars reads a struct field only
by decoding its whole column, and `evidence` (every option's supporting paths) takes
seconds per 100k rows, too slow to decode per request. Full-text search is a scan of the
text columns with the (literal, case-insensitive) predicate pushed down.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlencode

import polars as pl

from kgsynth.export.hub import (
    CARD_FILE,
    CORE_COLUMNS,
    DATA_GLOB,
    PLOTS_DIR,
    REJECTS_FILE,
    SUMMARY_FILE,
    DatasetError,
    data_files,
)
from kgsynth.export.out import MANIFEST_KEY, dataset_manifest
from kgsynth.view.rowindex import READS, index_columns

PAGE_SIZE = 50
DETAIL_HEAD = 300  # characters of a reject's detail the rejects table shows
CHECK_STATES = {"pass": "passed", "fail": "failed", "unset": "did not run"}
REJECT_COLUMNS = ("id", "stage", "reason", "detail")
# the text columns full-text search looks in (those of them the dataset has)
TEXT_COLUMNS = ("id", "question", "answer", "reasoning", "conclusion")
# Rust regex's meta characters (regex::escape): search is literal, with (?i) in front
_REGEX_META = set("\\.+*?()|[]{}^$#&-~")


class ViewQueryError(ValueError):
    """A page's query string that cannot be read (a margin that is not a number, ...)."""


def literal_pattern(text: str) -> str:
    """A case-insensitive polars (Rust) regex matching `text` literally."""
    return "(?i)" + "".join("\\" + c if c in _REGEX_META else c for c in text)


def _options_text(schema: pl.Schema) -> bool:
    """Whether `options` is a list of structs with a string `text` (what kgsynth writes)."""
    dtype = schema.get("options")
    if not isinstance(dtype, pl.List) or not isinstance(dtype.inner, pl.Struct):
        return False
    return any(f.name == "text" and f.dtype == pl.String for f in dtype.inner.fields)


def _text_match(schema: pl.Schema, text: str) -> pl.Expr:
    """Rows whose id, question, answer, reasoning, conclusion or an option holds `text`."""
    pattern = literal_pattern(text)
    found = [
        pl.col(c).str.contains(pattern).fill_null(False)
        for c in TEXT_COLUMNS
        if schema.get(c) == pl.String
    ]
    if _options_text(schema):
        found.append(
            pl.col("options")
            .list.eval(pl.element().struct.field("text").str.contains(pattern))
            .list.any()
            .fill_null(False)
        )
    return pl.any_horizontal(found)


def check_fields(schema: pl.Schema) -> list[str]:
    """The boolean checks of the `checks` struct, in schema order (not `passed`)."""
    dtype = schema["checks"]
    if not isinstance(dtype, pl.Struct):
        return []
    return [f.name for f in dtype.fields if f.dtype == pl.Boolean and f.name != "passed"]


# -- queries -------------------------------------------------------------------------------


def _float(name: str, value: str) -> float | None:
    if not value.strip():
        return None
    try:
        x = float(value)
    except ValueError:
        raise ViewQueryError(f"{name}: {value!r} is not a number") from None
    if not math.isfinite(x):
        raise ViewQueryError(f"{name}: {value!r} is not a finite number")
    return x


def _int(name: str, value: str, low: int) -> int | None:
    if not value.strip():
        return None
    try:
        x = int(value)
    except ValueError:
        raise ViewQueryError(f"{name}: {value!r} is not a whole number") from None
    if x < low:
        raise ViewQueryError(f"{name}: {x} is below {low}")
    return x


@dataclass(frozen=True)
class RowQuery:
    """The rows table's filters and page, as its query string holds them."""

    source: str = ""
    answer_type: str = ""
    checks: tuple[tuple[str, str], ...] = ()  # (check, pass | fail | unset)
    margin_min: float | None = None
    margin_max: float | None = None
    hops: int | None = None
    relation: str = ""
    text: str = ""
    page: int = 1

    @classmethod
    def parse(cls, items: Iterable[tuple[str, str]]) -> RowQuery:
        got: dict[str, str] = {}
        checks: list[tuple[str, str]] = []
        for key, value in items:
            if key == "check":
                if not value:
                    continue
                name, _, state = value.partition(":")
                if state not in CHECK_STATES:
                    raise ViewQueryError(f"check: {value!r} is not NAME:{'|'.join(CHECK_STATES)}")
                checks.append((name, state))
            else:
                got[key] = value
        return cls(
            source=got.get("source", ""),
            answer_type=got.get("atype", ""),
            checks=tuple(checks),
            margin_min=_float("mmin", got.get("mmin", "")),
            margin_max=_float("mmax", got.get("mmax", "")),
            hops=_int("hops", got.get("hops", ""), 0),
            relation=got.get("rel", ""),
            text=got.get("q", "").strip(),
            page=_int("page", got.get("page", ""), 1) or 1,
        )

    def items(self) -> list[tuple[str, str]]:
        """The query string's items (empty filters left out), the inverse of parse."""
        out: list[tuple[str, str]] = []
        for key, value in (
            ("source", self.source),
            ("atype", self.answer_type),
            ("mmin", "" if self.margin_min is None else repr(self.margin_min)),
            ("mmax", "" if self.margin_max is None else repr(self.margin_max)),
            ("hops", "" if self.hops is None else str(self.hops)),
            ("rel", self.relation),
            ("q", self.text),
        ):
            if value:
                out.append((key, value))
        out += [("check", f"{name}:{state}") for name, state in self.checks]
        if self.page > 1:
            out.append(("page", str(self.page)))
        return out

    def url(self, **change: Any) -> str:
        return "?" + urlencode(replace(self, **change).items())

    def filtered(self) -> bool:
        return replace(self, page=1) != RowQuery()

    def predicate(self) -> pl.Expr | None:
        """The filters (not the text search) over the row index's columns."""
        conds: list[pl.Expr] = []
        if self.source:
            conds.append(pl.col("source") == self.source)
        if self.answer_type:
            conds.append(pl.col("answer_types").list.contains(self.answer_type))
        for name, state in self.checks:
            value = pl.col("checks").struct.field(name)
            if state == "unset":
                conds.append(value.is_null())
            else:
                conds.append(value.fill_null(state == "fail") == (state == "pass"))
        if self.margin_min is not None:
            conds.append(pl.col("margin") >= self.margin_min)
        if self.margin_max is not None:
            conds.append(pl.col("margin") <= self.margin_max)
        if self.hops is not None:
            conds.append(pl.col("hops").list.contains(self.hops))
        if self.relation:
            conds.append(pl.col("relations").list.contains(self.relation))
        return pl.all_horizontal(conds) if conds else None


@dataclass(frozen=True)
class RejectQuery:
    stage: str = ""
    reason: str = ""
    text: str = ""
    page: int = 1

    @classmethod
    def parse(cls, items: Iterable[tuple[str, str]]) -> RejectQuery:
        got = dict(items)
        return cls(
            stage=got.get("stage", ""),
            reason=got.get("reason", ""),
            text=got.get("q", "").strip(),
            page=_int("page", got.get("page", ""), 1) or 1,
        )

    def url(self, **change: Any) -> str:
        q = replace(self, **change)
        items = [("stage", q.stage), ("reason", q.reason), ("q", q.text)]
        items = [(k, v) for k, v in items if v]
        if q.page > 1:
            items.append(("page", str(q.page)))
        return "?" + urlencode(items)


@dataclass(frozen=True)
class Page:
    """One page of a table: its rows (dicts), how many rows match, which page this is."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    indexed: bool = True  # False: read before the row index was there (no margins yet)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


@dataclass(frozen=True)
class Facets:
    """The values the rows table's filters offer."""

    sources: list[str]
    answer_types: list[str]
    hops: list[int]
    relations: list[str]
    margin: tuple[float | None, float | None]


# -- the dataset ---------------------------------------------------------------------------


def _inside(folder: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _parquet_schema(f: Path) -> pl.Schema:
    try:
        return pl.scan_parquet(f).collect_schema()
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DatasetError(f"{f}: cannot read as Parquet ({str(e).splitlines()[0]})") from e


def _first_row(files: list[Path]) -> None:
    # decoding a row reads past the footer into the data pages: a file cut short or
    # overwritten there fails here, before the server starts, not on a page later
    for f in files:
        try:
            pl.scan_parquet(f).slice(0, 1).collect()
        except (pl.exceptions.PolarsError, OSError) as e:
            raise DatasetError(f"{f}: cannot read as Parquet ({str(e).splitlines()[0]})") from e


def _read_summary(folder: Path) -> dict[str, Any]:
    f = folder / SUMMARY_FILE
    if not f.is_file():
        raise DatasetError(
            f"{folder}: not a kgsynth dataset folder (no {SUMMARY_FILE}; "
            "`kgsynth build --out` writes one)"
        )
    if f.is_symlink() or not _inside(folder, f):
        raise DatasetError(f"{f}: is a link; a kgsynth dataset's files are its own")
    try:
        summary = json.loads(f.read_text("utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{f}: line {e.lineno}, column {e.colno}: not JSON ({e.msg})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{f}: cannot read ({e})") from e
    if not isinstance(summary, dict) or dataset_manifest(folder) is None:
        raise DatasetError(
            f"{f}: not a kgsynth build summary (no `{MANIFEST_KEY}` list and no counts)"
        )
    return summary


def _check_listed(folder: Path, listed: list[str]) -> None:
    """Every file build.json lists is there (a dataset copied only in part is refused)."""
    for rel in listed:
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise DatasetError(
                f"{folder / SUMMARY_FILE}: `{MANIFEST_KEY}` lists {rel!r}, "
                "a path outside the dataset folder"
            )
        f = folder / p
        if not f.is_file():
            raise DatasetError(f"{f}: missing (listed in {folder / SUMMARY_FILE})")


def _own_file(folder: Path, f: Path) -> Path:
    if f.is_symlink() or not _inside(folder, f):
        raise DatasetError(f"{f}: is a link; a kgsynth dataset's files are its own")
    return f


class ViewDataset:
    """A dataset folder, checked (see the module's note), with the viewer's queries."""

    def __init__(self, folder: Path) -> None:
        if not folder.exists():
            raise DatasetError(f"{folder}: no such dataset folder")
        if not folder.is_dir():
            raise DatasetError(
                f"{folder}: is a file; `kgsynth view` takes a dataset folder "
                "(the folder `kgsynth build --out` wrote)"
            )
        self.folder = folder
        self.summary = _read_summary(folder)
        _check_listed(folder, dataset_manifest(folder) or [])
        self.files = [_own_file(folder, f) for f in data_files(folder)]
        if not self.files:
            raise DatasetError(f"{folder}: no {DATA_GLOB} (not a kgsynth dataset folder)")
        self.schema = self._rows_schema()
        rejects = folder / REJECTS_FILE
        self.rejects_file = _own_file(folder, rejects) if rejects.is_file() else None
        if self.rejects_file is not None:
            got = _parquet_schema(self.rejects_file)
            missing = [c for c in REJECT_COLUMNS if c not in got]
            if missing:
                raise DatasetError(
                    f"{self.rejects_file}: not kgsynth rejects (no column {missing[0]})"
                )
        _first_row(self.files + ([self.rejects_file] if self.rejects_file else []))
        card = folder / CARD_FILE
        self.card_file = _own_file(folder, card) if card.is_file() else None
        # the plots the card may show: plots/*.png, the folder's own files only
        self.plots = {
            p.name: p
            for p in sorted((folder / PLOTS_DIR).glob("*.png"))
            if p.is_file() and not p.is_symlink() and _inside(folder, p)
        }
        self.n_rows = int(pl.scan_parquet(self.files).select(pl.len()).collect().item())
        self.checks = check_fields(self.schema)
        self.sources: list[str] = (
            pl.scan_parquet(self.files)
            .select(pl.col("source").drop_nulls().unique().sort())
            .collect()["source"]
            .to_list()
        )
        self._index: pl.DataFrame | None = None
        self._index_error: DatasetError | None = None
        self._facets: Facets | None = None
        self._reject_counts: pl.DataFrame | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False

    def _rows_schema(self) -> pl.Schema:
        first = _parquet_schema(self.files[0])
        for f in self.files:
            schema = first if f == self.files[0] else _parquet_schema(f)
            missing = [c for c in CORE_COLUMNS if c not in schema]
            if missing:
                raise DatasetError(f"{f}: not kgsynth rows (no column {', '.join(missing)})")
            if schema != first:
                raise DatasetError(f"{f}: its columns differ from those of {self.files[0]}")
        # the index's expressions must type-check against the schema: a column of another
        # type is named here, not met as a polars error on some page
        probe = pl.DataFrame(schema=first).lazy()
        for name, expr in index_columns(first).items():
            try:
                probe.select(expr).collect()
            except pl.exceptions.PolarsError:
                column = READS.get(name, name)
                raise DatasetError(
                    f"{self.files[0]}: column {column!r} has type {first.get(column)}, "
                    "not that of kgsynth rows"
                ) from None
        return first

    def scan(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.files).with_row_index("_n")

    # -- the row index -------------------------------------------------------------------

    def start_index(self) -> None:
        """Build the row index in a background thread (pages wait for it when they need it)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._build_index, name="kgsynth-view-index", daemon=True
                )
                self._thread.start()

    def _build_index(self) -> None:
        # one polars thread in the child: the other core answers the pages meanwhile
        env = {**os.environ, "POLARS_MAX_THREADS": "1"}
        cmd = [sys.executable, "-m", "kgsynth.view.rowindex", "--parent", str(os.getpid())]
        with self._lock:
            if self._closed:
                return
            self._proc = subprocess.Popen(
                [*cmd, *map(str, self.files)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        out, err = self._proc.communicate()
        if self._proc.returncode != 0:
            why = err.decode("utf-8", "replace").strip().splitlines()
            where = ", ".join(map(str, self.files))
            self._index_error = DatasetError(
                f"{where}: cannot read as Parquet ({why[-1] if why else self._proc.returncode})"
            )
            return
        self._index = pl.read_ipc(io.BytesIO(out))

    def close(self) -> None:
        """Stop building the row index (the server is stopping): no child outlives it."""
        with self._lock:
            self._closed = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait()

    def index_ready(self) -> bool:
        return self._index is not None or self._index_error is not None

    def index(self) -> pl.DataFrame:
        self.start_index()
        assert self._thread is not None
        self._thread.join()
        if self._index_error is not None:
            raise self._index_error
        if self._index is None:
            raise DatasetError(f"{self.folder}: the viewer is stopping")
        return self._index

    def facets(self) -> Facets | None:
        """The filters' values, once the row index is there (None before)."""
        if self._facets is None and self._index is not None:
            idx = self._index

            def values(col: str) -> list[Any]:
                return idx.select(pl.col(col).explode().drop_nulls().unique().sort())[col].to_list()

            margin = idx.select(pl.col("margin").min().alias("lo"), pl.col("margin").max())
            lo, hi = margin.row(0)
            self._facets = Facets(
                sources=self.sources,
                answer_types=values("answer_types"),
                hops=values("hops"),
                relations=values("relations"),
                margin=(lo, hi),
            )
        return self._facets

    # -- rows ----------------------------------------------------------------------------

    def rows_page(self, q: RowQuery) -> Page:
        unknown = [name for name, _ in q.checks if name not in self.checks]
        if unknown:
            raise ViewQueryError(f"check: no check {unknown[0]!r} in this dataset")
        offset = (q.page - 1) * PAGE_SIZE
        pred = q.predicate()
        text = _text_match(self.schema, q.text) if q.text else None
        if pred is None and self._index is None:
            # before the index is there, pages that need none are read from the scan,
            # without the margin, whose `evidence` column costs more than the rest together
            cols = index_columns(self.schema) | {"margin": pl.lit(None, dtype=pl.Float64)}
            found = self.scan() if text is None else self.scan().filter(text)
            listing = found.slice(offset, PAGE_SIZE).select(
                pl.col("_n"), *(e.alias(n) for n, e in cols.items())
            )
            if text is None:
                return Page(listing.collect().to_dicts(), self.n_rows, q.page, indexed=False)
            total, page = pl.collect_all([found.select(pl.len()), listing])
            return Page(page.to_dicts(), int(total.item()), q.page, indexed=False)
        matches = self.index().lazy()
        if pred is not None:
            matches = matches.filter(pred)
        if text is not None:
            hits = self.scan().filter(text).select("_n")
            matches = matches.join(hits, on="_n", how="semi", maintain_order="left")
        total, page = pl.collect_all([matches.select(pl.len()), matches.slice(offset, PAGE_SIZE)])
        return Page(page.to_dicts(), int(total.item()), q.page)

    def row_number(self, row_id: str) -> int | None:
        if self._index is not None:
            hits = self._index.filter(pl.col("id") == row_id)["_n"]
        else:
            hits = self.scan().filter(pl.col("id") == row_id).select("_n").collect()["_n"]
        return int(hits[0]) if len(hits) else None

    def row(self, row_id: str) -> dict[str, Any] | None:
        """The whole row with this id (the first, should two share it), or None."""
        n = self.row_number(row_id)
        if n is None:
            return None
        return self.scan().slice(n, 1).collect().row(0, named=True)

    # -- rejects -------------------------------------------------------------------------

    def reject_counts(self) -> pl.DataFrame:
        """(stage, reason) -> rejected rows, most first."""
        if self._reject_counts is None:
            if self.rejects_file is None:
                self._reject_counts = pl.DataFrame(
                    schema={"stage": pl.String, "reason": pl.String, "rows": pl.UInt32}
                )
            else:
                self._reject_counts = (
                    pl.scan_parquet(self.rejects_file)
                    .group_by("stage", "reason")
                    .len("rows")
                    .sort("rows", "stage", "reason", descending=[True, False, False])
                    .collect()
                )
        return self._reject_counts

    def _rejects(self) -> pl.LazyFrame:
        assert self.rejects_file is not None
        return pl.scan_parquet(self.rejects_file).with_row_index("_n")

    def rejects_page(self, q: RejectQuery) -> Page:
        if self.rejects_file is None:
            return Page([], 0, 1)
        frame = self._rejects()
        if q.stage:
            frame = frame.filter(pl.col("stage") == q.stage)
        if q.reason:
            frame = frame.filter(pl.col("reason") == q.reason)
        if q.text:
            pattern = literal_pattern(q.text)
            frame = frame.filter(
                pl.any_horizontal(
                    pl.col(c).cast(pl.String).str.contains(pattern).fill_null(False)
                    for c in REJECT_COLUMNS
                )
            )
        offset = (q.page - 1) * PAGE_SIZE
        listing = frame.slice(offset, PAGE_SIZE).with_columns(
            pl.col("detail").cast(pl.String).str.slice(0, DETAIL_HEAD)
        )
        total, page = pl.collect_all([frame.select(pl.len()), listing])
        return Page(page.to_dicts(), int(total.item()), q.page)

    def reject(self, n: int) -> dict[str, Any] | None:
        if self.rejects_file is None or n < 0:
            return None
        got = self._rejects().slice(n, 1).collect()
        return got.row(0, named=True) if got.height else None
