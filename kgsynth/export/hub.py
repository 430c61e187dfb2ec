"""The dataset folder's layout and the card's YAML front matter, as a dataset hub reads them.

Rows go to `data/train-00000-of-00001.parquet` (the hub's shard naming), rejects stay at
`rejects.parquet` as a second config. `features` are derived from the frames' polars
schemas, so a column added to the row schema (kgsynth.export.rows.row_schema) shows up in
the card with no edit here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import polars as pl
import yaml

from kgsynth.errors import KGSynthError

DATA_DIR = "data"
DATA_GLOB = "data/train-*.parquet"  # the default config's data files
REJECTS_FILE = "rejects.parquet"
PLOTS_DIR = "plots"
CARD_FILE = "README.md"
SUMMARY_FILE = "build.json"


# columns every kgsynth row has had; later ones may be missing from older datasets
CORE_COLUMNS = ("id", "source", "question", "options", "answer", "paths", "checks")


def data_file(shard: int = 0, n_shards: int = 1) -> str:
    return f"{DATA_DIR}/train-{shard:05d}-of-{n_shards:05d}.parquet"


class DatasetError(KGSynthError):
    """A path that is not a kgsynth dataset folder (or a readable Parquet file)."""


_SCALARS: dict[type[pl.DataType], str] = {
    pl.String: "string",
    pl.Boolean: "bool",
    pl.Int8: "int8",
    pl.Int16: "int16",
    pl.Int32: "int32",
    pl.Int64: "int64",
    pl.UInt8: "uint8",
    pl.UInt16: "uint16",
    pl.UInt32: "uint32",
    pl.UInt64: "uint64",
    pl.Float32: "float32",
    pl.Float64: "float64",
    pl.Date: "date32",
    pl.Binary: "binary",
    pl.Null: "null",
    pl.Categorical: "string",  # written as dictionary-encoded strings
    pl.Enum: "string",
}


def _feature(dtype: pl.DataType, where: str) -> dict[str, Any]:
    """One polars dtype as the hub's YAML feature body: {dtype: ..} | {list: ..} | {struct: ..}.

    Lists follow `datasets` Features._to_yaml_list: a list of a scalar is `list: <dtype>`,
    a list of structs is `list: [fields]`, a list of lists nests `list: {list: ..}`."""
    if isinstance(dtype, pl.Struct):
        return {"struct": [{"name": f.name, **_feature(f.dtype, where)} for f in dtype.fields]}
    if isinstance(dtype, (pl.List, pl.Array)):
        inner = _feature(dtype.inner, where)
        if list(inner) == ["dtype"]:
            body: Any = inner["dtype"]
        elif list(inner) == ["struct"]:
            body = inner["struct"]
        else:
            body = inner
        out: dict[str, Any] = {"list": body}
        if isinstance(dtype, pl.Array):
            out["length"] = dtype.size
        return out
    if isinstance(dtype, pl.Datetime):
        tz = f", tz={dtype.time_zone}" if dtype.time_zone else ""
        return {"dtype": f"timestamp[{dtype.time_unit}{tz}]"}
    if isinstance(dtype, pl.Decimal):
        return {"dtype": f"decimal128({dtype.precision}, {dtype.scale})"}
    for cls, name in _SCALARS.items():
        if isinstance(dtype, cls):
            return {"dtype": name}
    raise TypeError(f"column '{where}': no hub feature type for polars {dtype}")


def features(schema: pl.Schema) -> list[dict[str, Any]]:
    """The `features` list of a config's dataset_info, in column order."""
    return [{"name": name, **_feature(dtype, name)} for name, dtype in schema.items()]


def size_category(n: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n < limit:
            return label
    return "10M<n<100M"


class Table(Protocol):
    """What the front matter reads of a table: a DataFrame, or a streamed build's row parts
    (kgsynth.export.parts.RowParts), which are never all in memory."""

    @property
    def schema(self) -> pl.Schema: ...
    @property
    def height(self) -> int: ...
    def estimated_size(self) -> int: ...


def _info(name: str, frame: Table) -> dict[str, Any]:
    return {
        "config_name": name,
        "features": features(frame.schema),
        # num_bytes: in-memory size, as the hub means it (an estimate; only rows are checked)
        "splits": [
            {"name": "train", "num_bytes": frame.estimated_size(), "num_examples": frame.height}
        ],
    }


def front_matter(rows: Table, rejects: pl.DataFrame, pretty_name: str) -> dict[str, Any]:
    """Hub metadata: two configs (exported rows, the default; rejects) with their features."""
    return {
        "pretty_name": pretty_name,
        "language": ["en"],
        "license": "other",
        "license_details": "QA text keeps the licence of its source dataset; see the card.",
        "task_categories": ["question-answering"],
        "tags": ["medical", "chain-of-thought", "knowledge-graph", "synthetic", "kgsynth"],
        "size_categories": [size_category(rows.height)],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": DATA_GLOB}],
                "default": True,
            },
            {
                "config_name": "rejects",
                "data_files": [{"split": "train", "path": REJECTS_FILE}],
            },
        ],
        "dataset_info": [_info("default", rows), _info("rejects", rejects)],
    }


def render_front_matter(meta: dict[str, Any]) -> str:
    body = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{body}---\n\n"


def read_front_matter(card: str) -> dict[str, Any]:
    """The YAML block between the leading `---` lines of a card ({} when there is none)."""
    if not card.startswith("---\n"):
        return {}
    end = card.find("\n---\n", 4)
    if end < 0:
        return {}
    return yaml.safe_load(card[4 : end + 1]) or {}


def data_files(folder: Path) -> list[Path]:
    """The exported rows' Parquet files of a dataset folder, in shard order.

    A folder written before the `data/` layout (one `data.parquet` beside the card) reads too."""
    files = sorted(folder.glob(DATA_GLOB))
    if not files and (folder / "data.parquet").is_file():
        files = [folder / "data.parquet"]
    return files


def read_dataset(path: Path | str) -> pl.DataFrame:
    """The exported rows of a dataset folder (all of data/*.parquet) or of one Parquet file."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = data_files(path)
        if not files:
            raise DatasetError(
                f"{path}: not a kgsynth dataset folder (no {DATA_GLOB} and no data.parquet)"
            )
    else:
        raise DatasetError(f"{path}: no such dataset folder or Parquet file")
    frames = []
    for f in files:
        try:
            frame = pl.read_parquet(f)
        except (pl.exceptions.PolarsError, OSError) as e:
            raise DatasetError(f"{f}: cannot read as Parquet ({str(e).splitlines()[0]})") from e
        missing = [c for c in CORE_COLUMNS if c not in frame.columns]
        if missing:
            raise DatasetError(f"{f}: not kgsynth rows (no column {', '.join(missing)})")
        frames.append(frame)
    return pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]


def read_rejects(folder: Path | str) -> pl.DataFrame | None:
    """A dataset folder's rejects, or None when it has none (e.g. a lone Parquet file)."""
    f = Path(folder) / REJECTS_FILE
    if not f.is_file():
        return None
    try:
        return pl.read_parquet(f)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DatasetError(f"{f}: cannot read as Parquet ({str(e).splitlines()[0]})") from e
