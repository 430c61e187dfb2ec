"""A build streams: each shard's kept rows and rejects are written to Parquet parts as its
turn comes and leave memory, and so do its input records, so the rows alive in the process
stay bounded by a few shards, not the input; the dataset it writes (rows and rejects, in
order) equals the one-shard (one-batch) build's, and the report keeps counts, no Reject.

The bound is shown by counting, each time a shard's rows are handed to the writer, the
VerifiedQA, Reject and QARecord objects alive in the whole process (gc), not by timing.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.build import BuildResult, build_dataset
from kgsynth.config import BuildConfig, load_config
from kgsynth.export.hub import read_dataset, read_rejects
from kgsynth.export.parts import RejectParts, RowParts, spooled_build, spooled_rows
from kgsynth.export.stats import dataset_stats
from kgsynth.records import QARecord, Reject, VerifiedQA
from kgsynth.report import BuildReport, Rejects, stage_rank
from kgsynth.runs import in_flight

LIMIT = 400  # MedQA rows: 4 exported with the evidence settings of _cfg
SHARD = 20  # 20 shards


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
            # what is measured is rows leaving memory: without the clue rule twice as many of
            # these MedQA rows are exported (4, not 2)
            "evidence": {"common_findings": [], "min_clue_weight": 0.0},
        },
    )


@pytest.fixture(scope="module")
def one_batch(medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path_factory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("one") / "out"
    return build_dataset(_cfg(medqa_path, cache_dir, out, LIMIT)), out  # one shard


def _alive(kind: type = VerifiedQA) -> int:
    return sum(isinstance(o, kind) for o in gc.get_objects())


@pytest.fixture(scope="module")
def streamed(medqa_path, cache_dir, hpo_kg, tmp_path_factory) -> dict[str, Any]:
    """The build in shards of SHARD rows, with, each time a shard's rows are handed to the
    writer: its rows and the VerifiedQA, Reject and QARecord objects alive (the last two
    over those alive before the build), and each shard's rejects as they went to the spool."""
    handed: list[tuple[int, int, int, int]] = []
    spooled: list[int] = []
    add, add_rejects = RowParts.add, RejectParts.add

    def counting_add(self: RowParts, rows: list[Any]) -> None:
        if type(self) is RowParts:  # the rows' parts, not the rejects' (a subclass)
            alive = (_alive(), _alive(Reject) - before[0], _alive(QARecord) - before[1])
            handed.append((len(rows), *alive))
        add(self, rows)

    def counting_rejects(self: RejectParts, rows: list[Reject]) -> None:
        spooled.append(len(rows))
        add_rejects(self, rows)

    out = tmp_path_factory.mktemp("streamed") / "out"
    cfg = _cfg(medqa_path, cache_dir, out, SHARD)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RowParts, "add", counting_add)
        mp.setattr(RejectParts, "add", counting_rejects)
        gc.collect()
        before = (_alive(Reject), _alive(QARecord))
        res: BuildResult = build_dataset(cfg)
    gc.collect()
    after = _alive(Reject) - before[0]
    return {
        "res": res,
        "out": out,
        "cfg": cfg,
        "handed": handed,
        "spooled": spooled,
        "rejects_alive_after": after,
    }


def test_rows_leave_memory_as_shards_finish(one_batch, streamed):
    res, out, cfg = streamed["res"], streamed["out"], streamed["cfg"]
    handed = [(n, rows) for n, rows, _, _ in streamed["handed"]]

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
    # the parts' folders (rows, rejects) are gone: only the dataset stands beside it
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def test_rejects_and_input_records_leave_memory_as_shards_finish(streamed):
    res, cfg, handed = streamed["res"], streamed["cfg"], streamed["handed"]
    rep: BuildReport = res.report
    n_shards = LIMIT // SHARD
    # each shard's rejects went to the spool, one part per shard, as its turn came
    assert len(streamed["spooled"]) == n_shards and len(handed) == n_shards
    read = sum(n for (s, _), n in rep.rejects.counts.items() if s in ("input", "dedup"))
    assert read + sum(streamed["spooled"]) == len(rep.rejects) == LIMIT - rep.exported
    # when shard i is handed on, the rejects and input records alive are those of the shards
    # in flight at most (a shard has SHARD rows), never all of the build's
    bound = (in_flight(cfg.run) + 1) * SHARD
    for i, (_, _, rejects, records) in enumerate(handed):
        assert rejects <= bound and records <= bound, (i, rejects, records, handed)
    assert max(r for _, _, r, _ in handed) <= len(rep.rejects) // 3, handed
    assert max(q for _, _, _, q in handed) <= LIMIT // 3, handed
    # after the run the report holds counts, no Reject (they are in rejects.parquet)
    assert rep.rejects.held == [] and rep.rejects.spool is None
    assert streamed["rejects_alive_after"] <= 0
    assert rep.n_input == LIMIT == rep.exported + len(rep.rejects)


def test_streamed_rejects_equal_the_one_batch_rejects(one_batch, streamed):
    res, out = streamed["res"], streamed["out"]
    one_res, one_out = one_batch
    # the file: the same rows, in the same order (stage by stage, input order within a
    # stage), with the same schema, though they were spooled one part per shard
    got, want = (
        pl.read_parquet(out / "rejects.parquet"),
        pl.read_parquet(one_out / "rejects.parquet"),
    )
    assert got.schema == want.schema
    assert_frame_equal(got, want)
    # stage by stage: the shards' parts, each with several stages, were put in that order
    ranks = [stage_rank(st) for st in got["stage"]]
    assert got["stage"].n_unique() >= 2 and ranks == sorted(ranks)
    # the report reads them back, in the file's order, and counts them as the file does
    rep = res.report
    assert list(rep.rejects) == [Reject(**r) for r in got.iter_rows(named=True)]
    assert rep.rejected_by_reason() == one_res.report.rejected_by_reason()
    by_reason = got.group_by("stage", "reason").len().rows()
    assert sorted((s, r, n) for s, r, n in rep.rejected_by_reason()) == sorted(by_reason)
    summary = json.loads((out / "build.json").read_text())
    one_summary = json.loads((one_out / "build.json").read_text())
    for key in ("rejected", "rejected_by_reason", "counts", "exported"):
        assert summary[key] == one_summary[key], key


def _reject(i: int, stage: str, reason: str = "r") -> Reject:
    return Reject(id=f"q{i}", stage=stage, reason=reason, detail=f"row {i}", line=i)


def test_spooled_rejects_read_back_stage_by_stage(tmp_path: Path) -> None:
    shards = [
        [_reject(0, "link"), _reject(1, "paths"), _reject(2, "odd"), _reject(3, "verify")],
        [_reject(4, "verify"), _reject(5, "link", "other")],
        [],  # a shard without rejects writes no part
        [_reject(6, "paths"), _reject(7, "odd"), _reject(8, "link")],
    ]
    held = [_reject(9, "input"), _reject(10, "dedup")]  # a flow's own (reading) stages
    # what one run over every row gives: the shards' rejects stage by stage (pipeline
    # order, a stage outside it last), input order within a stage
    in_memory = BuildReport(rejects=[r for sh in shards for r in sh])
    in_memory.rejects.sort_held()
    want = held + list(in_memory.rejects)
    assert [r.id for r in want[2:]] == ["q0", "q5", "q8", "q1", "q6", "q3", "q4", "q2", "q7"]

    with spooled_build(tmp_path / "out", lambda rows: pl.DataFrame()) as spool:
        parts = spool.rejects
        sharded = Rejects()
        sharded.spool_into(parts)
        for sh in shards:
            sharded += sh
        assert sharded.held == [] and len(parts.files) == 3 and parts.added == 4
        report = BuildReport(rejects=held)
        report.rejects += sharded  # a flow takes its shards' rejects: theirs come after
        rejects = report.rejects
        assert len(rejects) == 11 and list(rejects) == want and rejects[3] == want[3]
        assert rejects.counts[("link", "r")] == 2 and rejects.counts[("link", "other")] == 1
        frame = rejects.scan().collect()
        assert frame.schema == parts.schema and frame["id"].to_list() == [r.id for r in want]
        path = tmp_path / "rejects.parquet"
        frame.write_parquet(path)
        folder = parts.folder
    assert not folder.exists()
    rejects.stored_at(path)  # the spool is gone: they are read back from the written file
    assert list(rejects) == want and len(rejects) == 11 and rejects.held == []


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


def test_input_parts_come_back_once_and_refuse_a_planted_file(tmp_path: Path) -> None:
    rec = [
        QARecord(id=f"q{i}", source="t", question="Q?", options={"A": "a"}, answer="a")
        for i in range(5)
    ]
    with spooled_build(tmp_path / "out", lambda rows: pl.DataFrame()) as spool:
        inputs = spool.inputs
        assert [inputs.put(rec[:3]), inputs.put(rec[3:]), inputs.put([])] == [0, 1, 2]
        assert inputs.take(1) == rec[3:] and inputs.take(0) == rec[:3] and inputs.take(2) == []
        assert list(inputs.folder.iterdir()) == []  # each file is read back once, then removed
        with pytest.raises(FileNotFoundError):
            inputs.take(0)
        i = inputs.put(rec)
        path = next(inputs.folder.iterdir())
        blob = path.read_bytes()
        path.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))  # not what this build wrote
        with pytest.raises(RuntimeError, match="not the input this build wrote"):
            inputs.take(i)
        folder = inputs.folder.parent
    assert not folder.exists()
