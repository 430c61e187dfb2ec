"""A JSON KG document read by polars, with errors that name the line and the element.

polars parses the document in one go; only when it fails, or a vectorised check finds a bad
element, is the text walked with the json module to say where: the line of a syntax error,
or the line where nodes[i] / edges[i] begins.
"""

from __future__ import annotations

import io
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from kgsynth.errors import InputError

_WS = re.compile(r"\s*")
_WS_BYTES = re.compile(rb"\s*")


class JsonDoc:
    def __init__(self, path: Path, data: bytes) -> None:
        self.path = path
        self.name = str(path)
        self.data = data[3:] if data.startswith(b"\xef\xbb\xbf") else data  # a UTF-8 BOM

    def read_polars(self, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        """The top-level object as one row, only the schema's keys (others are skipped)."""
        start = _WS_BYTES.match(self.data).end()
        if self.data[start : start + 1] != b"{":
            self._raise_parse_error(None)
            raise InputError(self.name, "bad JSON: the top level must be an object", line=1)
        try:
            return pl.read_json(io.BytesIO(self.data), schema=schema)
        except pl.exceptions.PolarsError as e:
            self._raise_parse_error(e)
            raise InputError(self.name, f"cannot read JSON: {str(e).splitlines()[0]}") from e

    def require(self, df: pl.DataFrame, key: str, cols: list[str]) -> None:
        """No element of the `key` array lacks one of cols (df has the element index 'i')."""
        for col in cols:
            self.fail_where(df, pl.col(col).is_null(), key, col, "missing or null")

    def fail_where(self, df: pl.DataFrame, bad: pl.Expr, key: str, field: str, msg: str) -> None:
        hits = df.filter(bad.fill_null(True))
        if not hits.height:
            return
        i = int(hits["i"][0])
        more = f" ({hits.height} such elements)" if hits.height > 1 else ""
        value = self._element(key, i)
        shown = json.dumps(value.get(field) if isinstance(value, dict) else value)[:80]
        raise InputError(
            self.name,
            f"{msg}: {shown}{more}",
            line=self.element_line(key, i),
            field=f"{key}[{i}].{field}",
        )

    # -- the error path: the json module says where ---------------------------------------

    @cached_property
    def _text(self) -> str:
        try:
            return self.data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = self.data.count(b"\n", 0, e.start) + 1
            raise InputError(self.name, f"not UTF-8 text ({e.reason})", line=line) from e

    def _raise_parse_error(self, cause: Exception | None) -> None:
        """Raise for a syntax or shape error the json module finds; return if none."""
        text = self._text
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(
                self.name, f"bad JSON: {e.msg} (column {e.colno})", line=e.lineno
            ) from cause
        key, i, problem = _shape_problem(doc)
        if problem:
            field = key if i is None else f"{key}[{i}]"
            line = None if key is None or i is None else self.element_line(key, i)
            raise InputError(self.name, problem, line=line, field=field) from cause

    def _element(self, key: str, i: int) -> Any:
        offset = _element_offset(self._text, key, i)
        if offset is None:
            return None
        try:
            return json.JSONDecoder().raw_decode(self._text, offset)[0]
        except ValueError:
            return None

    def element_line(self, key: str, i: int) -> int | None:
        """The line where element i of the top-level array `key` begins."""
        text = self._text
        offset = _element_offset(text, key, i)
        return None if offset is None else text.count("\n", 0, offset) + 1


def _skip_ws(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return pos if m is None else m.end()


def _element_offset(text: str, key: str, index: int) -> int | None:
    """Character offset of element `index` of the top-level array under `key`. Each value is
    skipped with the C decoder, so even a large document is walked in seconds."""
    dec = json.JSONDecoder()
    try:
        pos = _skip_ws(text, 0)
        if text[pos : pos + 1] != "{":
            return None
        pos += 1
        while True:
            pos = _skip_ws(text, pos)
            if text[pos : pos + 1] != '"':
                return None
            name, pos = dec.raw_decode(text, pos)
            pos = _skip_ws(text, pos)
            if text[pos : pos + 1] != ":":
                return None
            pos = _skip_ws(text, pos + 1)
            if name == key and text[pos : pos + 1] == "[":
                return _array_item(dec, text, pos + 1, index)
            _, pos = dec.raw_decode(text, pos)
            pos = _skip_ws(text, pos)
            if text[pos : pos + 1] != ",":
                return None
            pos += 1
    except ValueError:
        return None


def _array_item(dec: json.JSONDecoder, text: str, pos: int, index: int) -> int | None:
    for _ in range(index):
        _, pos = dec.raw_decode(text, _skip_ws(text, pos))
        pos = _skip_ws(text, pos)
        if text[pos : pos + 1] != ",":
            return None
        pos += 1
    return _skip_ws(text, pos)


def _shape_problem(doc: Any) -> tuple[str | None, int | None, str]:
    """The first element whose shape does not fit hetnet JSON: (key, index, what)."""
    if not isinstance(doc, dict):
        return None, None, "bad JSON: the top level must be an object"
    checks = (("nodes", _node_problem), ("edges", _edge_problem))
    for key, check in checks:
        items = doc.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            return key, None, f"not hetnet JSON: '{key}' must be an array"
        for i, item in enumerate(items):
            problem = check(item)
            if problem:
                return key, i, problem
    return None, None, ""


def _is_id(x: Any) -> bool:
    return isinstance(x, str | int) and not isinstance(x, bool)


def _node_problem(node: Any) -> str:
    if not isinstance(node, dict):
        return "a node must be an object"
    if not isinstance(node.get("kind"), str):
        return "node 'kind' must be a string"
    if not _is_id(node.get("identifier")):
        return "node 'identifier' must be a string or an integer"
    if not isinstance(node.get("name"), str | None):
        return "node 'name' must be a string"
    return ""


def _edge_problem(edge: Any) -> str:
    if not isinstance(edge, dict):
        return "an edge must be an object"
    for end in ("source_id", "target_id"):
        v = edge.get(end)
        if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and _is_id(v[1])):
            return f"edge '{end}' must be [kind, identifier]"
    if not isinstance(edge.get("kind"), str):
        return "edge 'kind' must be a string"
    return ""
