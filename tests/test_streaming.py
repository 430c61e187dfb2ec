"""A build streams: each shard's kept rows are written to Parquet parts as its turn comes and
leave memory, so the rows alive in the process stay bounded by a few shards, not the input;
the dataset it writes equals the one-shard (one-batch) build's.

The bound is shown by counting, each time a shard's rows are handed to the writer, the
VerifiedQA records alive in the whole process (gc), not by timing.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.build import BuildResult, build_dataset
from kgsynth.config import BuildConfig, load_config
from kgsynth.export.hub import read_dataset, read_rejects
from kgsynth.export.parts import RowParts, spooled_rows
from kgsynth.export.stats import dataset_stats
from kgsynth.records import VerifiedQA
from kgsynth.runs import in_flight

LIMIT = 400  # MedQA rows: ~35 exported
SHARD = 20  # 20 shards, ~2 exported rows each


def _cfg(medqa: Path, cache_dir: Path, out: Path, shard_size: int) -> BuildConfig:
    run = {"cache_results": False, "shard_size": shard_size}
    return load_config(
        None,
        {
            "qa": [medqa],
            "kg": "hpo",
            "out": out,
            "cache_dir": cache_dir,
            "limit": LIMIT,
            "run": run,
        },
    )


@pytest.fixture(scope="module")
def one_batch(medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path_factory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("one") / "out"
    return build_dataset(_cfg(medqa_path, cache_dir, out, LIMIT)), out  # one shard


def _alive() -> int:
    return sum(isinstance(o, VerifiedQA) for o in gc.get_objects())


def test_rows_leave_memory_as_shards_finish(
    one_batch, medqa_path, cache_dir, tmp_path, monkeypatch
):
    handed: list[tuple[int, int]] = []  # per shard, in turn: (its rows, VerifiedQA alive)
    add = RowParts.add

    def counting_add(self: RowParts, rows: list[Any]) -> None:
        handed.append((len(rows), _alive()))
        add(self, rows)

    monkeypatch.setattr(RowParts, "add", counting_add)
    out = tmp_path / "out"
    cfg = _cfg(medqa_path, cache_dir, out, SHARD)
    res: BuildResult = build_dataset(cfg)

    n_shards = LIMIT // SHARD
    assert res.report.run is not None and res.report.run.shards == n_shards
    assert len(handed) == n_shards  # every shard's rows went to the writer, one by one
    total = sum(n for n, _ in handed)
    assert total == res.report.exported > 0
    # when shard i is handed on, the records alive are at most those of the shards in the
    # window (i and the ones already submitted behind it), never all of the build's
    window = in_flight(cfg.run)
    for i, (_, alive) in enumerate(handed):
        bound = sum(n for n, _ in handed[i : i + window + 1])
        assert alive <= bound, (i, alive, bound, handed)
    peak = max(alive for _, alive in handed)
    assert peak <= total // 3, (peak, total)

    # the same dataset as the one-batch build
    one_res, one_out = one_batch
    assert one_res.report.run.shards == 1
    assert_frame_equal(
        read_dataset(out).drop("created_at"), read_dataset(one_out).drop("created_at")
    )
    assert_frame_equal(read_rejects(out), read_rejects(one_out))
    assert res.report.counts == one_res.report.counts
    assert (out / "README.md").read_text().split("## Statistics")[1] == (
        one_out / "README.md"
    ).read_text().split("## Statistics")[1]
    # the parts' folder is gone: only the dataset stands beside where it was written
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def test_lazy_stats_equal_in_memory_stats(one_batch):
    _, out = one_batch
    rejects = read_rejects(out)
    eager = dataset_stats(read_dataset(out), rejects)
    lazy = dataset_stats(pl.scan_parquet(sorted((out / "data").glob("*.parquet"))), rejects)
    assert eager.n_rows == lazy.n_rows > 0
    for name in ("per_source", "per_answer_type", "path_lengths", "entity_types", "relations"):
        assert_frame_equal(getattr(eager, name), getattr(lazy, name))
    assert_frame_equal(eager.checks, lazy.checks)


def test_parts_stream_into_one_file_in_order(tmp_path: Path) -> None:
    def frame(rows: list[Any]) -> pl.DataFrame:
        return pl.DataFrame({"i": rows}, schema={"i": pl.Int64})

    with spooled_rows(tmp_path / "out", frame) as parts:
        for start in range(0, 250, 25):
            parts.add(list(range(start, start + 25)))
        parts.add([])  # a shard that exported nothing writes no part
        assert len(parts.files) == 10 and parts.added == 11 and parts.height == 250
        target = tmp_path / "all.parquet"
        parts.write_into(target, row_group_size=100)
        folder = parts.folder
        assert folder.parent == tmp_path and folder.name.startswith(".out.kgsynth-tmp-")
    assert not folder.exists()
    assert pl.read_parquet(target)["i"].to_list() == list(range(250))
    with spooled_rows(tmp_path / "empty", frame) as parts:
        parts.write_into(tmp_path / "none.parquet", row_group_size=100)
    assert pl.read_parquet(tmp_path / "none.parquet").schema == pl.Schema({"i": pl.Int64})
