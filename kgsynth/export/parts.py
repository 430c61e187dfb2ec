"""A build's input, exported rows and rejects spooled to part files while its shards run.

A large build must not hold every kept row, nor every reject, until the end: each shard's
rows, in input order, become one part file (`part-NNNNNN.parquet`) in a temporary folder
beside `out` and leave memory, and so do its rejects (RejectParts); the export then streams
the parts into the dataset's files (`write_into`) and computes the card's statistics from
those files lazily (kgsynth.export.write). Nor must it hold its input records while the
shards run: they wait on disk, a file per shard, until the shard is submitted (InputParts).
The folders have kgsynth's temporary-folder name (kgsynth.atomic), so a build killed mid-run
leaves nothing that the next write to `out` does not remove (recover_interrupted).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from kgsynth.atomic import temp_prefix
from kgsynth.export.rows import rejects_frame
from kgsynth.records import Reject
from kgsynth.stages import Stage


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


class RejectParts(RowParts):
    """A streamed build's rejects so far (kgsynth.export.rows.REJECT_SCHEMA), one part per
    shard in the shard's own order. `scan` reads them back in the order one run over every
    row reports them (kgsynth.runs.ShardMerger): stage by stage in pipeline order (a stage
    outside `Stage` last), parts in input order within a stage."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, rejects_frame)
        self.stages: set[str] = set()  # the stages the parts hold: only those are read back

    def add(self, rows: list[Reject]) -> None:
        self.stages.update(r.stage for r in rows)
        super().add(rows)

    def scan(self) -> pl.LazyFrame:
        parts = super().scan()
        known = [s.value for s in Stage]
        # one filtered pass per stage present, concatenated: streamed, where a sort of the
        # whole table by stage would hold it in memory
        by_stage = [parts.filter(pl.col("stage") == s) for s in known if s in self.stages]
        if self.stages - set(known):
            by_stage.append(parts.filter(~pl.col("stage").is_in(known)))
        return pl.concat(by_stage) if by_stage else parts


class InputParts:
    """A build's input records, a file per shard in `folder`: written as the input is cut
    into shards (`put`), read back and removed when the shard is submitted (`take`). Pickled,
    to come back exactly as they went (a shard's cache key was made from them), and each
    file signed with a key of this run only, so a file planted in the folder is refused,
    never unpickled."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.n = 0  # files written
        self._key = secrets.token_bytes(32)

    def _path(self, i: int) -> Path:
        return self.folder / f"input-{i:06d}.pickle"

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def put(self, records: list[Any]) -> int:
        """Write one shard's records; returns its index (0, 1, ... in the order put)."""
        data = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
        i, self.n = self.n, self.n + 1
        self._path(i).write_bytes(self._mac(data) + data)
        return i

    def take(self, i: int) -> list[Any]:
        """Shard i's records, read back once (the file is removed)."""
        path = self._path(i)
        blob = path.read_bytes()
        path.unlink()
        mac, data = blob[:32], blob[32:]
        if not hmac.compare_digest(mac, self._mac(data)):
            raise RuntimeError(f"{path}: not the input this build wrote")
        records: list[Any] = pickle.loads(data)  # noqa: S301 - signed above, by this run
        return records


@dataclass
class BuildSpool:
    """What a streamed build keeps on disk while its shards run (kgsynth.runs.run_shards):
    its input records, its exported rows and its rejects."""

    inputs: InputParts
    rows: RowParts
    rejects: RejectParts


@contextmanager
def _spool_folder(out: Path, kind: str) -> Iterator[Path]:
    """A fresh temporary folder beside `out` (the file system the dataset is written to),
    removed when the block ends, whether or not it raised."""
    final = out.resolve() if out.is_symlink() else Path(os.path.abspath(out))
    final.parent.mkdir(parents=True, exist_ok=True)
    while True:
        folder = final.parent / f"{temp_prefix(final, 'tmp')}{kind}_{secrets.token_hex(4)}"
        try:
            folder.mkdir()
            break
        except FileExistsError:
            continue
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def spooled_rows(out: Path, frame: Callable[[list[Any]], pl.DataFrame]) -> Iterator[RowParts]:
    """A RowParts in a fresh temporary folder beside `out`, removed when the block ends."""
    with _spool_folder(out, "rows") as folder:
        yield RowParts(folder, frame)


@contextmanager
def spooled_build(out: Path, frame: Callable[[list[Any]], pl.DataFrame]) -> Iterator[BuildSpool]:
    """A BuildSpool (rows made into the exported table by `frame`) in one fresh temporary
    folder beside `out`, removed when the block ends, whether or not it raised."""
    with _spool_folder(out, "build") as folder:
        for sub in ("input", "rows", "rejects"):
            (folder / sub).mkdir()
        yield BuildSpool(
            InputParts(folder / "input"),
            RowParts(folder / "rows", frame),
            RejectParts(folder / "rejects"),
        )
