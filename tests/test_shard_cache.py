"""Task-level retries and the shard result cache (kgsynth/runs.py).

A build whose third shard crashes leaves the other shards' results on disk; the re-run takes
them from there (Prefect's "Cached" state) and runs the failed shard alone, and its rows are
those of an uninterrupted build. The cache key follows the rows, the config, the KG and the
code, and nothing else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.build import build_dataset
from kgsynth import runs
from kgsynth.config import BuildConfig, load_config
from kgsynth.export.hub import read_dataset
from kgsynth.qa import read_qa
from kgsynth.stages.link import LinkStage

LIMIT = 160  # the first hpo row that passes every check is the 159th (medqa_usmle_test-158)
SHARD = 40  # 4 shards
FAILING = 2  # the shard that crashes


def _cfg(medqa: Path, cache_dir: Path, out: Path, results: Path, **over: Any) -> BuildConfig:
    run = {"shard_size": SHARD, "result_dir": results, "retries": 0, "retry_delay_s": 0}
    return load_config(
        None,
        {
            "qa": [medqa],
            "kg": "hpo",
            "out": out,
            "cache_dir": cache_dir,
            "limit": LIMIT,
            **over,
            "run": run | over.pop("run", {}),
        },
    )


class CrashingLink:
    """Stands in for the link stage: records which shards ran it, crashes where told to."""

    def __init__(self, real: Callable[..., Any], first_ids: list[str]) -> None:
        self.real = real
        self.first_ids = first_ids
        self.ran: list[int] = []
        self.fail_times = 0  # how many more times the FAILING shard crashes

    def __get__(self, stage: Any, owner: type | None = None) -> Callable[..., Any]:
        # looked up on a stage object, it binds to it like the method it replaces
        return functools.partial(self, stage)

    def __call__(self, stage: Any, records: list[Any], *args: Any) -> Any:
        shard = self.first_ids.index(records[0].id)
        self.ran.append(shard)
        if shard == FAILING and self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError(f"injected crash in shard {shard}")
        return self.real(stage, records, *args)


@pytest.fixture
def stage(medqa_path: Path, monkeypatch: pytest.MonkeyPatch) -> CrashingLink:
    records = read_qa([medqa_path], limit=LIMIT).records
    spy = CrashingLink(LinkStage.run, [records[i].id for i in range(0, LIMIT, SHARD)])
    # shards of the local runner run in this process, so the patched stage is the one used
    monkeypatch.setattr(LinkStage, "run", spy)
    return spy


def _outputs(out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    return read_dataset(out).drop("created_at"), pl.read_parquet(out / "rejects.parquet")


def test_rerun_after_a_crash_redoes_only_the_failed_shard(
    stage: CrashingLink, medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path: Path
):
    results = tmp_path / "results"
    cfg = _cfg(medqa_path, cache_dir, tmp_path / "out", results)

    # run 1: shard 2 crashes; the flow fails, but only after the other shards have finished
    stage.fail_times = 1
    with pytest.raises(RuntimeError, match="injected crash in shard 2"):
        build_dataset(cfg)
    assert sorted(stage.ran) == [0, 1, 2, 3]
    assert not (tmp_path / "out" / "build.json").exists()
    records = [p for p in results.glob("kgsynth-shard-*") if p.suffix != ".seal"]
    assert len(records) == 3  # the finished shards' results, each sealed by kgsynth
    assert all(p.with_name(p.name + ".seal").is_file() for p in records)

    # run 2: the finished shards come from the cache; shard 2 alone runs its stages
    stage.ran.clear()
    res = build_dataset(cfg)
    assert stage.ran == [FAILING]
    assert res.report.run.shards == 4 and res.report.run.cached_shards == 3

    # the same rows as a build that never crashed (no cache at all)
    stage.ran.clear()
    fresh = _cfg(medqa_path, cache_dir, tmp_path / "fresh", results, run={"cache_results": False})
    ref = build_dataset(fresh)
    assert sorted(stage.ran) == [0, 1, 2, 3]
    rows, rejects = _outputs(tmp_path / "out")
    ref_rows, ref_rejects = _outputs(tmp_path / "fresh")
    assert rows.height > 0
    assert_frame_equal(rows, ref_rows)
    assert_frame_equal(rejects, ref_rejects)
    assert res.report.counts == ref.report.counts

    # run 3: a setting that changes the rows (paths per pair) misses the cache everywhere;
    # a new output folder alone does not
    stage.ran.clear()
    build_dataset(_cfg(medqa_path, cache_dir, tmp_path / "out2", results))
    assert stage.ran == []
    changed = _cfg(medqa_path, cache_dir, tmp_path / "out3", results, paths={"k": 2})
    assert build_dataset(changed).report.run.cached_shards == 0
    assert sorted(stage.ran) == [0, 1, 2, 3]


def test_a_shard_that_fails_once_is_retried(
    stage: CrashingLink, medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path: Path
):
    stage.fail_times = 1
    run = {"retries": 1, "cache_results": False}
    res = build_dataset(_cfg(medqa_path, cache_dir, tmp_path / "out", tmp_path / "r", run=run))
    assert sorted(stage.ran) == [0, 1, 2, 2, 3]  # shard 2 twice: the crash, then the retry
    assert res.report.counts["input"] == LIMIT


def test_the_cache_key_follows_rows_config_kg_and_nothing_else(medqa_path: Path, tmp_path: Path):
    records = read_qa([medqa_path], limit=3).records
    base = load_config(None, {"qa": [medqa_path], "out": tmp_path / "a"})
    key = runs.shard_key(records, base, "kghash")

    def with_(**over: Any) -> BuildConfig:
        return load_config(None, {"qa": [medqa_path], "out": tmp_path / "a", **over})

    # the rows, any row-deciding setting, the KG content: a new key
    assert runs.shard_key(records[:2], base, "kghash") != key
    edited = [records[0].model_copy(update={"answer": "something else"}), *records[1:]]
    assert runs.shard_key(edited, base, "kghash") != key
    assert runs.shard_key(records, base, "otherkg") != key
    for over in (
        {"paths": {"k": 2}},
        {"linking": {"threshold": 0.9}},
        {"verify": {"no_leakage": False}},
        {"generator": "openai"},
        {"kg": "triples:other.tsv"},
    ):
        assert runs.shard_key(records, with_(**over), "kghash") != key, over
    # where input and output live, caches and how the work runs: the same key
    for over in (
        {"out": tmp_path / "b"},
        {"limit": 500},
        {"cache_dir": tmp_path / "cache"},
        {"run": {"shard_size": 7, "task_runner": "dask", "retries": 3}},
        {"qa": [tmp_path / "copy.jsonl"]},
    ):
        assert runs.shard_key(records, with_(**over), "kghash") == key, over
