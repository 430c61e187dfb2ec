"""`kgsynth inspect DATASET` on a dataset built offline in the test."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.config import DEFAULT_SAMPLE_QA
from kgsynth.export import read_dataset, read_rejects
from kgsynth.export.hub import data_file

SAMPLE = DEFAULT_SAMPLE_QA
runner = CliRunner()
WIDE = {"COLUMNS": "220"}  # rich wraps at the terminal width: keep a row's lines whole


@pytest.fixture(scope="module")
def built(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inspect") / "ds"
    args = ["build", "--qa", str(SAMPLE), "--kg", "hpo", "--out", str(out)]
    res = runner.invoke(app, [*args, "--cache-dir", str(cache_dir)])
    assert res.exit_code == 0, res.output
    return out


def inspect(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["inspect", *args], env=WIDE)
    return res.exit_code, res.output


def test_summary_counts_sources_checks_and_versions(built: Path):
    rows, rejects = read_dataset(built), read_rejects(built)
    code, out = inspect(str(built), "--rows", "0")
    assert code == 0, out
    assert f"exported rows {rows.height}, rejected {rejects.height}" in out
    assert f"input {rows.height + rejects.height}  (input = exported + rejected)" in out
    assert "KG hpo (hash" in out and rows["kg_hash"][0][:16] in out
    assert "dedup: 0 exact + 0 near" in out
    for reason in set(rejects["reason"]):
        assert reason in out
    assert re.search(rf"│ medqa\s+│\s+{rows.height} │", out)  # per source
    assert "offline" in out and rows["prompt_version"][0] in out  # generator / prompt
    for check in ("kg_faithful", "answer_match", "no_leakage"):
        assert re.search(rf"│ {check}\s+│\s+\d+ │\s+\d+ │\s+100\.0% │", out), check
    assert "Question" not in out  # --rows 0: the summary only


def test_rows_are_shown_readably(built: Path):
    rows = read_dataset(built)
    code, out = inspect(str(built), "--rows", "2")
    assert code == 0, out
    first, second, third = rows["id"][:3]
    assert first in out and second in out and third not in out
    row = rows.row(0, named=True)
    gold = next(o for o in row["options"] if o["letter"] == row["answer_idx"])
    assert f"✓ {gold['letter']}. {gold['text']}" in out  # the gold option is marked
    others = [o for o in row["options"] if o["letter"] != row["answer_idx"]]
    assert all(f"  {o['letter']}. {o['text']}" in out for o in others)
    # paths read as "A -[relation]-> B" (or "<-[relation]-" where a hop is walked backwards)
    hop = row["paths"][0][0]
    assert f"-[{hop['relation']}]" in out and hop["head_name"] in out and hop["tail_name"] in out
    for part in ("Reasoning", "Conclusion", "Checks", "kg_faithful ✓"):
        assert part in out
    assert row["conclusion"].splitlines()[0] in out


def test_one_row_by_id_and_a_rejected_id(built: Path):
    rows, rejects = read_dataset(built), read_rejects(built)
    wanted = rows["id"][-1]
    code, out = inspect(str(built), "--id", wanted)
    assert code == 0, out
    assert wanted in out and rows["id"][0] not in out.split("Pass rate")[-1]
    gone = rejects.row(0, named=True)
    code, out = inspect(str(built), "--id", gone["id"])
    assert code == 2
    assert f"'{gone['id']}' was rejected at {gone['stage']}: {gone['reason']}" in out
    code, out = inspect(str(built), "--id", "no-such-row")
    assert code == 2 and "no exported row with id 'no-such-row'" in out


def test_a_single_parquet_file_is_inspected_too(built: Path):
    code, out = inspect(str(built / data_file()), "-n", "1")
    assert code == 0, out
    assert f"exported rows {read_dataset(built).height}" in out and "rejected" not in out


def test_not_a_dataset_is_a_clear_error(tmp_path: Path):
    code, out = inspect(str(tmp_path))
    assert code == 2
    assert "not a kgsynth dataset folder" in out and str(tmp_path) in out
    code, out = inspect(str(tmp_path / "missing"))
    assert code == 2 and "no such dataset folder" in out and "missing" in out
    bad = tmp_path / "data" / "train-00000-of-00001.parquet"
    bad.parent.mkdir()
    bad.write_text("not parquet")
    code, out = inspect(str(tmp_path))
    assert code == 2 and str(bad) in out and "cannot read as Parquet" in out
    pl.DataFrame({"x": [1]}).write_parquet(tmp_path / "other.parquet")
    code, out = inspect(str(tmp_path / "other.parquet"))
    assert code == 2 and "other.parquet" in out
