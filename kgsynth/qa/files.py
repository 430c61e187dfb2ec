"""QA files -> (line, row) pairs, where a row that cannot even be parsed is already a Reject.

JSONL is decoded line by line, so one line of bad UTF-8 or broken JSON becomes a reject row
and the rest of the file still loads. A .json file may hold an array of rows, an object keyed
by id (PubMedQA's release: PMID -> row) or JSONL. A CSV without a header row is read as MMLU's
release (question, options..., answer letter). Line numbers are 1-based; for a JSON array or
keyed object they count items.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from kgsynth.errors import InputError
from kgsynth.qa.layouts import KNOWN_FIELDS
from kgsynth.records import Reject

# (line or row number, parsed row or a Reject made while parsing)
Row = tuple[int, dict[str, Any] | Reject]
_NOT_OBJECT = "array item is not an object"


def reject(path: Path, line: int, reason: str, detail: str, rid: str | None = None) -> Reject:
    return Reject(
        id=rid,
        stage="input",
        reason=reason,
        detail=f"{path}, line {line}: {detail}",
        source_file=str(path),
        line=line,
    )


def read_rows(path: Path) -> list[Row]:
    if path.suffix in (".jsonl", ".json"):
        return _json_rows(path)
    return _table_rows(path)


def _json_rows(path: Path) -> list[Row]:
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM is not JSON
    head = data.lstrip()[:1]
    if path.suffix == ".json" and head == b"[":
        try:
            rows = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(str(path), f"not a valid JSON array: {e}") from e
        return [
            (i, row if isinstance(row, dict) else reject(path, i, "not_an_object", _NOT_OBJECT))
            for i, row in enumerate(rows, 1)
        ]
    if path.suffix == ".json" and head == b"{":
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            obj = None  # not one JSON object: JSONL in a .json file
        if isinstance(obj, dict):  # one row, or rows keyed by id
            single = {"question", "QUESTION"} & obj.keys()
            return [(1, obj)] if single else _keyed_rows(path, obj)
    return _jsonl_rows(path, data)


def _keyed_rows(path: Path, obj: dict[str, Any]) -> list[Row]:
    """{id: row, ...}: the key is the row's id unless the row has one."""
    out: list[Row] = []
    for i, (key, row) in enumerate(obj.items(), 1):
        if isinstance(row, dict):
            out.append((i, {"id": key, **row} if "id" not in row else row))
        else:
            what = f"value of key '{key}' is a JSON {type(row).__name__}, not an object"
            out.append((i, reject(path, i, "not_an_object", what, key)))
    return out


def _jsonl_rows(path: Path, data: bytes) -> list[Row]:
    out: list[Row] = []
    for i, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            where = f"bytes are not UTF-8 at column {e.start + 1}"
            out.append((i, reject(path, i, "invalid_utf8", where)))
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            out.append((i, reject(path, i, "malformed_json", f"{e.msg} at column {e.colno}")))
            continue
        if not isinstance(row, dict):
            what = f"line holds a JSON {type(row).__name__}, not an object"
            out.append((i, reject(path, i, "not_an_object", what)))
            continue
        out.append((i, row))
    return out


def _table_rows(path: Path) -> list[Row]:
    header = path.suffix != ".csv" or not _headerless_mmlu(path)
    try:
        if path.suffix == ".csv":
            df = pl.read_csv(path, has_header=header, infer_schema_length=0, encoding="utf8-lossy")
        else:
            df = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as e:
        line = _first_long_row(path) if path.suffix == ".csv" else None
        raise InputError(str(path), f"cannot read: {str(e).splitlines()[0]}", line=line) from e
    if path.suffix != ".csv":
        return list(enumerate(df.iter_rows(named=True), 1))  # row numbers for Parquet
    lines = _csv_row_lines(path, df.height, header)
    out: list[Row] = []
    for line, row in zip(lines, df.iter_rows(named=True), strict=True):
        if not any(v is not None and str(v).strip() for v in row.values()):
            continue  # a blank line is no row (polars reads it as a row of nulls)
        out.append((line, row if header else _mmlu_row(list(row.values()))))
    return out


def _mmlu_row(cells: list[Any]) -> dict[str, Any]:
    return {"question": cells[0], "choices": cells[1:-1], "answer": cells[-1]}


def _headerless_mmlu(path: Path) -> bool:
    """MMLU's CSVs have no header: question, 2+ options, then the answer letter."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        first = next(csv.reader(fh), [])
    cells = [c.strip() for c in first]
    return (
        len(cells) >= 4
        and re.fullmatch(r"[A-Z]", cells[-1]) is not None
        and not any(c in KNOWN_FIELDS or c.lower() in KNOWN_FIELDS for c in cells)
    )


def _csv_row_lines(path: Path, n_rows: int, header: bool) -> list[int]:
    """The line each CSV row starts on: a quoted field may span several lines."""
    starts: list[int] = []
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        if header:
            next(reader, None)
        start = reader.line_num + 1
        for _ in reader:
            starts.append(start)
            start = reader.line_num + 1
    if len(starts) != n_rows:  # the csv module split rows differently: count rows instead
        first = 2 if header else 1
        return list(range(first, n_rows + first))
    return starts


def _first_long_row(path: Path) -> int | None:
    # only on the error path: the line of the first row with more fields than the first row
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        want = len(next(reader, []))
        for row in reader:
            if len(row) > want:
                return reader.line_num
    return None
