"""The viewer's row index: one small frame of what the rows table shows and filters on.

Built by one scan of the data files in a child process (`python -m kgsynth.view.rowindex
FILE...`, the frame back as Arrow IPC on stdout, nothing written to disk) running polars on
one thread: the scan decodes every row's `evidence` (polars reads a struct field only by
decoding the whole column), which takes seconds on 100k rows and, in the server's own
process, would hold polars' thread pool and stall every page until it is done. In a child
the server's pages keep answering while the index is built.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import polars as pl

QUESTION_HEAD = 240  # characters of the question the table shows
POLL_S = 0.2  # how often the child checks that its parent is alive

# the row index's columns made from another column of the rows (the others keep their name)
READS = {
    "answer_types": "answer_entities",
    "n_paths": "paths",
    "hops": "paths",
    "relations": "paths",
    "margin": "evidence",
}


def index_columns(schema: pl.Schema) -> dict[str, pl.Expr]:
    """The row index's columns as expressions over the data files' scan. Columns that older
    datasets may lack are null (or empty) where missing."""

    def has(name: str) -> bool:
        return name in schema

    empty = pl.lit([], dtype=pl.List(pl.String))
    return {
        "id": pl.col("id"),
        "source": pl.col("source"),
        "question": pl.col("question").str.slice(0, QUESTION_HEAD),
        "answer": pl.col("answer"),
        "answer_types": (
            pl.col("answer_entities")
            .list.eval(pl.element().struct.field("type"))
            .list.drop_nulls()
            .list.unique()
            .list.sort()
            if has("answer_entities")
            else empty
        ),
        "n_paths": pl.col("paths").list.len(),
        "hops": pl.col("paths").list.eval(pl.element().list.len()).list.unique().list.sort(),
        "relations": (
            pl.col("paths")
            .list.eval(
                pl.element()
                .list.explode(keep_nulls=False, empty_as_null=False)
                .struct.field("relation")
            )
            .list.drop_nulls()
            .list.unique()
            .list.sort()
        ),
        "margin": (
            pl.col("evidence").struct.field("margin").cast(pl.Float64)
            if has("evidence")
            else pl.lit(None, dtype=pl.Float64)
        ),
        "checks": pl.col("checks"),
    }


def build(files: list[Path]) -> pl.DataFrame:
    """The row index of these data files (`_n`, the row number, then index_columns)."""
    scan = pl.scan_parquet(files).with_row_index("_n")
    cols = index_columns(scan.collect_schema())
    return scan.select(pl.col("_n"), *(e.alias(n) for n, e in cols.items())).collect(
        engine="streaming"
    )


def _watch_parent(parent: int) -> None:
    """End this process once `parent` is no longer its parent (it died, however): an index
    no server waits for is not worth the CPU (as kgsynth.prefect_server's watchdog)."""
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os._exit(1)


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[0] == "--parent":
        # started before the scan: polars releases the GIL while it reads
        threading.Thread(target=_watch_parent, args=(int(argv[1]),), daemon=True).start()
        argv = argv[2:]
    try:
        frame = build([Path(a) for a in argv])
        frame.write_ipc(sys.stdout.buffer, compression="uncompressed")
        sys.stdout.buffer.flush()
    except (pl.exceptions.PolarsError, OSError) as e:
        print(str(e).splitlines()[0] if str(e) else type(e).__name__, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the server stops
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
