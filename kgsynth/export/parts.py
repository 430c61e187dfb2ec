"""Exported rows spooled to Parquet part files as a build's shards finish.

A large build must not hold every kept row until the end: each shard's rows, in input order,
become one part file (`part-NNNNNN.parquet`) in a temporary folder beside `out` and leave
memory; the export then streams the parts into the dataset's data file (`write_into`) and
computes the card's statistics from that file lazily (kgsynth.export.write). The folder has
kgsynth's temporary-folder name (kgsynth.atomic), so a build killed mid-run leaves nothing
that the next write to `out` does not remove (recover_interrupted).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from kgsynth.atomic import temp_prefix


class RowParts:
    """The exported rows so far, as part files in `folder`; `frame` turns a shard's kept rows
    into the exported table (every part has its schema). Duck-types the few DataFrame members
    the card's front matter reads (`schema`, `height`, `estimated_size`)."""

    def __init__(self, folder: Path, frame: Callable[[list[Any]], pl.DataFrame]) -> None:
        self.folder = folder
        self.frame = frame
        self.schema: pl.Schema = frame([]).schema
        self.files: list[Path] = []
        self.height = 0
        self._bytes = 0  # summed in-memory size of the parts: the hub's `num_bytes` estimate
        self.added = 0  # add() calls: one per shard

    def add(self, rows: list[Any]) -> None:
        """Write one shard's kept rows (in input order) as the next part; none: no file."""
        self.added += 1
        if not rows:
            return
        part = self.frame(rows)
        path = self.folder / f"part-{len(self.files):06d}.parquet"
        part.write_parquet(path)
        self.files.append(path)
        self.height += part.height
        self._bytes += part.estimated_size()

    def estimated_size(self) -> int:
        return self._bytes

    def scan(self) -> pl.LazyFrame:
        """Every part in order, lazily (an empty frame of the schema when there are none)."""
        if not self.files:
            return pl.LazyFrame(schema=self.schema)
        return pl.scan_parquet(self.files)

    def write_into(self, path: Path, row_group_size: int) -> None:
        """The parts as one Parquet file, streamed (polars keeps the parts' order), in row
        groups of `row_group_size` rows whatever the parts' sizes."""
        self.scan().sink_parquet(path, row_group_size=row_group_size)


@contextmanager
def spooled_rows(out: Path, frame: Callable[[list[Any]], pl.DataFrame]) -> Iterator[RowParts]:
    """A RowParts in a fresh temporary folder beside `out` (the file system the dataset is
    written to), removed when the block ends, whether or not it raised."""
    final = out.resolve() if out.is_symlink() else Path(os.path.abspath(out))
    final.parent.mkdir(parents=True, exist_ok=True)
    while True:
        folder = final.parent / f"{temp_prefix(final, 'tmp')}rows_{secrets.token_hex(4)}"
        try:
            folder.mkdir()
            break
        except FileExistsError:
            continue
    try:
        yield RowParts(folder, frame)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
