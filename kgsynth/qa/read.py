"""QA files (JSONL/JSON, CSV, Parquet) -> QARecords plus Rejects; nothing dropped silently.

JSONL is decoded line by line, so one line of bad UTF-8 or broken JSON becomes a reject row
and the rest of the file still loads.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from kgsynth.errors import InputError
from kgsynth.qa.normalise import RowRejected, normalise_row
from kgsynth.records import QARecord, Reject

SUPPORTED = (".jsonl", ".json", ".csv", ".parquet")


@dataclass
class QABatch:
    records: list[QARecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    n_input: int = 0  # invariant: n_input == len(records) + len(rejects)


# (line or row number, parsed row or a Reject made while parsing)
_Row = tuple[int, dict[str, Any] | Reject]


def _reject(path: Path, line: int, reason: str, detail: str, rid: str | None = None) -> Reject:
    return Reject(
        id=rid,
        stage="input",
        reason=reason,
        detail=f"{path}, line {line}: {detail}",
        source_file=str(path),
        line=line,
    )


def _jsonl_rows(path: Path) -> Iterator[_Row]:
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM is not JSON
    stripped = data.lstrip()
    if path.suffix == ".json" and stripped[:1] == b"[":
        try:
            rows = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(str(path), f"not a valid JSON array: {e}") from e
        for i, row in enumerate(rows, 1):
            yield (
                i,
                row
                if isinstance(row, dict)
                else _reject(path, i, "not_an_object", "array item is not an object"),
            )
        return
    for i, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield (
                i,
                _reject(path, i, "invalid_utf8", f"bytes are not UTF-8 at column {e.start + 1}"),
            )
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            yield i, _reject(path, i, "malformed_json", f"{e.msg} at column {e.colno}")
            continue
        if not isinstance(row, dict):
            yield (
                i,
                _reject(
                    path,
                    i,
                    "not_an_object",
                    f"line holds a JSON {type(row).__name__}, not an object",
                ),
            )
            continue
        yield i, row


def _table_rows(path: Path) -> Iterator[_Row]:
    try:
        if path.suffix == ".csv":
            df = pl.read_csv(path, infer_schema_length=0, encoding="utf8-lossy")
        else:
            df = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as e:
        line = _first_long_row(path) if path.suffix == ".csv" else None
        raise InputError(str(path), f"cannot read: {str(e).splitlines()[0]}", line=line) from e
    if path.suffix != ".csv":
        yield from enumerate(df.iter_rows(named=True), 1)  # row numbers for Parquet
        return
    for line, row in zip(_csv_row_lines(path, df.height), df.iter_rows(named=True), strict=True):
        if any(v is not None and str(v).strip() for v in row.values()):
            yield line, row  # a blank line is no row (polars reads it as a row of nulls)


def _csv_row_lines(path: Path, n_rows: int) -> list[int]:
    """The line each CSV row starts on: a quoted field may span several lines."""
    starts: list[int] = []
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        start = reader.line_num + 1
        for _ in reader:
            starts.append(start)
            start = reader.line_num + 1
    if len(starts) != n_rows:  # the csv module split rows differently: count rows instead
        return list(range(2, n_rows + 2))
    return starts


def _first_long_row(path: Path) -> int | None:
    # only on the error path: the line of the first row with more fields than the header
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        want = len(next(reader, []))
        for row in reader:
            if len(row) > want:
                return reader.line_num
    return None


def read_qa(
    paths: list[Path],
    *,
    source: str | None = None,
    limit: int | None = None,
    max_question_chars: int = 20_000,
) -> QABatch:
    """Read and normalise QA rows from one or more files."""
    batch = QABatch()
    seen: set[str] = set()
    for path in paths:
        path = Path(path)
        if path.suffix not in SUPPORTED:
            raise InputError(
                str(path), f"unsupported QA file type '{path.suffix}' (use {', '.join(SUPPORTED)})"
            )
        if not path.is_file():
            raise InputError(str(path), "QA file not found")
        rows = _jsonl_rows(path) if path.suffix in (".jsonl", ".json") else _table_rows(path)
        for line, row in rows:
            if limit is not None and batch.n_input >= limit:
                return batch
            batch.n_input += 1
            if isinstance(row, Reject):
                batch.rejects.append(row)
                continue
            try:
                rec = normalise_row(
                    row,
                    layout=source,
                    default_id=f"{path.stem}-{line}",
                    max_question_chars=max_question_chars,
                )
            except RowRejected as e:
                where = f"field '{e.field}': " if e.field else ""
                rid = str(row.get("id")) if row.get("id") is not None else f"{path.stem}-{line}"
                batch.rejects.append(_reject(path, line, e.reason, where + e.detail, rid))
                continue
            if rec.id in seen:
                batch.rejects.append(
                    _reject(path, line, "duplicate_id", f"id '{rec.id}' seen before", rec.id)
                )
                continue
            seen.add(rec.id)
            batch.records.append(
                rec.model_copy(update={"meta": {**rec.meta, "file": str(path), "line": str(line)}})
            )
    return batch
