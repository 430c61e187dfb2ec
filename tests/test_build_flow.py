"""The whole flow on the shared MedQA file and the HPO KG, and the CLI around it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import jsonschema
import polars as pl
import pytest
from build_digest import dataset_digest
from typer.testing import CliRunner

from flows.build import build_dataset
from kgsynth.cli import app
from kgsynth.config import load_config
from kgsynth.export import read_dataset
from kgsynth.export.hub import data_file
from kgsynth.schemas import CONFIG_SCHEMA_PATH
from kgsynth.stages import Stage

DIGEST = Path(__file__).parent / "data" / "medqa_build_digest.json"

ROW_SCHEMA = json.loads((CONFIG_SCHEMA_PATH.parent / "output_row.schema.json").read_text())


@pytest.fixture(scope="module")
def medqa_build(medqa_path: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("medqa-build")
    cfg = load_config(None, {"qa": [medqa_path], "kg": "hpo", "out": out, "cache_dir": cache_dir})
    return build_dataset(cfg), out


def test_medqa_build_counts_add_up(medqa_build):
    result, out = medqa_build
    rep = result.report
    data = read_dataset(out)
    rejects = pl.read_parquet(out / "rejects.parquet")
    assert rep.counts[Stage.INPUT] == 1273
    assert data.height == rep.counts[Stage.VERIFY] == rep.exported
    assert data.height + rejects.height == 1273
    assert rejects["id"].n_unique() == rejects.height
    assert set(data["id"]).isdisjoint(set(rejects["id"]))
    c = rep.counts
    assert c[Stage.INPUT] >= c[Stage.LINK] >= c[Stage.PATHS] >= c[Stage.GENERATE]
    assert c[Stage.GENERATE] >= c[Stage.VERIFY] > 0
    # every reject says where and why
    assert rejects.filter(pl.col("reason").is_null() | (pl.col("reason") == "")).height == 0
    assert set(rejects["stage"]) <= {"input", "link", "evidence", "paths", "generate", "verify"}


def test_medqa_rows_match_the_output_schema_and_are_grounded(medqa_build, hpo_kg):
    _, out = medqa_build
    data = read_dataset(out)
    validator = jsonschema.Draft202012Validator(
        ROW_SCHEMA, format_checker=jsonschema.FormatChecker()
    )
    for row in data.head(200).to_dicts():
        row["created_at"] = row["created_at"].isoformat()
        errors = sorted(validator.iter_errors(row), key=str)
        assert not errors, errors[0].message
    row = data.row(0, named=True)
    assert row["generator"] == "offline" and row["prompt_version"] and row["model"]
    assert row["kg_name"] == "hpo" and row["kg_hash"] == hpo_kg.hash
    assert isinstance(row["created_at"], datetime)
    for path in row["paths"]:
        for hop in path:
            assert hpo_kg.has_edge(hop["head_id"], hop["relation"], hop["tail_id"])
    # the answer entity is the end of every path, a question entity its start
    ans_ids = {e["kg_id"] for e in row["answer_entities"]}
    q_ids = {e["kg_id"] for e in row["question_entities"]}
    assert all(p[-1]["tail_id"] in ans_ids or p[-1]["head_id"] in ans_ids for p in row["paths"])
    assert all(p[0]["tail_id"] in q_ids or p[0]["head_id"] in q_ids for p in row["paths"])


def test_medqa_build_equals_the_committed_digest(medqa_build):
    """Rows (column by column), rejects and counts of the full MedQA build equal the
    committed digest (tests/data/medqa_build_digest.json). It was first made before the
    architecture refactor (which left it unchanged: commit e08a468) and is remade, on
    purpose, by a change meant to alter the rows: python tests/build_digest.py DATASET."""
    _, out = medqa_build
    want = json.loads(DIGEST.read_text())
    got = dataset_digest(out)
    assert got["rows"] == want["rows"] and got["rejects"] == want["rejects"]
    changed = [c for c, h in want["row_columns"].items() if got["row_columns"].get(c) != h]
    assert not changed, f"columns differ from the digest: {changed}"
    assert set(got["row_columns"]) == set(want["row_columns"])
    assert got["rejects_sha256"] == want["rejects_sha256"]
    assert got["counts"] == want["counts"]


def test_card_and_summary_report_stage_counts(medqa_build):
    result, out = medqa_build
    card = (out / "README.md").read_text()
    for stage in (Stage.INPUT, Stage.PATHS, Stage.VERIFY, Stage.EXPORT):
        assert stage.label in card
    summary = json.loads((out / "build.json").read_text())
    assert summary["counts"] == {s.value: n for s, n in result.report.counts.items()}
    assert summary["exported"] + summary["rejected"] == 1273
    assert sum(r["rows"] for r in summary["rejected_by_reason"]) == summary["rejected"]
    assert "api_key" not in json.dumps(summary["config"]).replace("api_key_env", "")


runner = CliRunner()


def test_cli_build_prints_stage_table(tmp_path, cache_dir, medqa_path):
    res = runner.invoke(
        app,
        [
            "build",
            "--qa",
            str(medqa_path),
            "--kg",
            "hpo",
            "--out",
            str(tmp_path / "o"),
            "--cache-dir",
            str(cache_dir),
            "--limit",
            "60",
        ],
    )
    assert res.exit_code == 0, res.output
    assert Stage.INPUT.label in res.output and Stage.VERIFY.label in res.output
    assert "input 60 = exported" in res.output
    assert (tmp_path / "o" / data_file()).exists()


def test_cli_default_build_uses_the_sample(tmp_path, cache_dir):
    res = runner.invoke(app, ["build", "--out", str(tmp_path / "o"), "--cache-dir", str(cache_dir)])
    assert res.exit_code == 0, res.output
    data = read_dataset(tmp_path / "o")
    assert data.height > 0


def test_cli_unknown_kg_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["build", "--kg", "nosuchkg", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "nosuchkg" in res.output and "hpo" in res.output


def test_cli_bad_config_names_the_field(tmp_path):
    cfg = tmp_path / "b.toml"
    cfg.write_text("[paths]\nmax_hops = 0\n")
    res = runner.invoke(app, ["build", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "paths.max_hops" in res.output and str(cfg) in res.output
    cfg.write_text("[paths\n")
    res = runner.invoke(app, ["build", "--config", str(cfg)])
    assert res.exit_code == 2 and "not valid TOML" in res.output


def test_yaml_config_and_flag_override(tmp_path):
    cfg = tmp_path / "b.yaml"
    cfg.write_text("kg: hpo\npaths:\n  k: 2\n  max_hops: 2\n")
    c = load_config(cfg, {"paths": {"k": 5, "max_hops": None}})
    assert c.paths.k == 5 and c.paths.max_hops == 2 and c.kg == "hpo"
