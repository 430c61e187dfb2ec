"""Scale-out: a build sharded over Dask worker processes gives the single-process rows.

The Dask build runs on a `distributed.LocalCluster` of 2 worker processes started by the
flow. Each worker must load the KG itself (from the on-disk cache, once, however many shards
it runs): the shard tasks are handed the KG's spec and hash, never the graph.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.build import BuildResult, build_dataset
from kgsynth.config import BuildConfig, load_config
from kgsynth.export.hub import read_dataset
from kgsynth.stages import Stage

LIMIT = 200  # MedQA rows: enough for ~20 exported rows, quick on 2 cores
SHARD = 40  # 5 shards


def _cfg(medqa: Path, cache_dir: Path, out: Path, **run: object) -> BuildConfig:
    # no shard cache: every build here must really run its shards
    run = {"cache_results": False, **run}
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


def _outputs(out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    return read_dataset(out).drop("created_at"), pl.read_parquet(out / "rejects.parquet")


@pytest.fixture(scope="module")
def single(medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path_factory) -> tuple[BuildResult, Path]:
    out = tmp_path_factory.mktemp("single")
    return build_dataset(_cfg(medqa_path, cache_dir, out, shard_size=LIMIT)), out  # one shard


def _same_build(a: tuple[BuildResult, Path], b: tuple[BuildResult, Path]) -> None:
    rows_a, rejects_a = _outputs(a[1])
    rows_b, rejects_b = _outputs(b[1])
    assert rows_a.height > 0
    assert_frame_equal(rows_a, rows_b)  # same rows, same order
    assert_frame_equal(rejects_a, rejects_b)
    assert a[0].report.counts == b[0].report.counts
    link_a, link_b = a[0].report.info_of(Stage.LINK), b[0].report.info_of(Stage.LINK)
    assert link_a == link_b | {"index": link_a["index"]}


def test_local_shards_give_the_one_shard_rows(single, medqa_path, cache_dir, tmp_path):
    res = build_dataset(_cfg(medqa_path, cache_dir, tmp_path, shard_size=SHARD))
    assert res.report.run.shards == LIMIT // SHARD
    assert single[0].report.run.shards == 1
    _same_build(single, (res, tmp_path))


def test_dask_workers_give_the_single_process_rows(single, medqa_path, cache_dir, tmp_path):
    cfg = _cfg(medqa_path, cache_dir, tmp_path, shard_size=SHARD, task_runner="dask", n_workers=2)
    res = build_dataset(cfg)
    _same_build(single, (res, tmp_path))

    run = res.report.summary()["run"]
    assert run["task_runner"] == "dask" and run["shards"] == 5 and run["cached_shards"] == 0
    workers = run["workers"]
    # two worker processes, neither of them this one, shared the five shards
    assert len(workers) == 2, workers
    assert all(w["pid"] != os.getpid() for w in workers)
    assert sum(w["shards"] for w in workers) == 5
    # each loaded the KG itself, from the on-disk cache, once (it was not sent with the
    # tasks), and built its linker once, however many shards it ran
    for w in workers:
        assert w["loads"]["kg"] == 1 and w["loads"]["linker"] == 1, w
