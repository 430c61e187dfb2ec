"""A content digest of a dataset folder: its rows, rejects and counts, to compare two builds.

Rows are hashed column by column (so a mismatch names the column) as canonical JSON, without
`created_at` (the build's clock) and with floats rounded to 9 decimals; rejects (their
source file by name, not by the checkout's path) and counts are hashed whole.
`python tests/build_digest.py DATASET` prints the digest as JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import polars as pl


def _canon(x: Any) -> Any:
    if isinstance(x, float):
        return round(x, 9)
    if isinstance(x, dict):
        return {k: _canon(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_canon(v) for v in x]
    return x


def _sha(values: list[Any]) -> str:
    text = json.dumps(_canon(values), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def dataset_digest(out: Path) -> dict[str, Any]:
    rows = pl.read_parquet(sorted((out / "data").glob("*.parquet"))).drop("created_at")
    # where the input lay differs between checkouts: keep the file's name only
    rejects = pl.read_parquet(out / "rejects.parquet").with_columns(
        pl.col("source_file").str.replace(r"^.*/", "")
    )
    counts = json.loads((out / "build.json").read_text())["counts"]
    return {
        "rows": rows.height,
        "row_columns": {c: _sha(rows[c].to_list()) for c in rows.columns},
        "rejects": rejects.height,
        "rejects_sha256": _sha(rejects.to_dicts()),
        "counts": counts,
    }


if __name__ == "__main__":
    print(json.dumps(dataset_digest(Path(sys.argv[1])), indent=2))
