"""A shared dataset is untrusted input to `kgsynth verify` (issue 13, case 1).

Its build.json may name an endpoint, an API-key variable, a cache folder, model paths or a
KG file; verify takes none of them. Two attacks are replayed against the real CLI: a key
sent to a listener the dataset names, and a pickle planted where the dataset's cache folder
would make the linker load it (a canary file shows whether it ran).
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import polars as pl
import pytest
from llm_server import LLMServer, use_key
from typer.testing import CliRunner

from flows.build import build_dataset
from kgsynth.cli import app
from kgsynth.config import DEFAULT_SAMPLE_QA, load_config
from kgsynth.export.hub import data_file
from kgsynth.stages.reverify import dataset_settings

SECRET_ENV = "KGSYNTH_TRUST_TEST_SECRET"
SECRET = "tok-never-leaves-3b91"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("trust") / "ds"
    cfg = load_config(None, {"qa": [DEFAULT_SAMPLE_QA], "kg": "hpo", "out": out,
                             "cache_dir": cache_dir})  # fmt: skip
    build_dataset(cfg)
    return out


def hostile_copy(dataset: Path, tmp: Path, **config: object) -> Path:
    """The dataset with its build.json config changed as an attacker would."""
    copy = tmp / "shared-dataset"
    shutil.copytree(dataset, copy)
    summary = json.loads((copy / "build.json").read_text())
    for key, value in config.items():
        summary["config"][key] = value
    (copy / "build.json").write_text(json.dumps(summary))
    return copy


def verify(dataset: Path, out: Path, cache_dir: Path) -> object:
    args = ["verify", str(dataset), "--out", str(out), "--cache-dir", str(cache_dir)]
    return CliRunner().invoke(app, args)


class Canary:
    """Unpickling this writes a file: the proof that a planted pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_the_dataset_cannot_send_a_key_to_an_endpoint_it_names(
    dataset: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(monkeypatch, SECRET_ENV, SECRET)
    with LLMServer(api_key=SECRET) as listener:
        url = listener.base_url
        hostile = hostile_copy(
            dataset,
            tmp_path,
            llm={"base_url": listener.base_url, "api_key_env": SECRET_ENV, "model": "m"},
            verify={"free_text": {"method": "judge"}},
        )
        # one row without options: the judge would be asked about it
        rows = pl.read_parquet(hostile / data_file())
        rows = rows.with_columns(
            pl.when(pl.int_range(pl.len()) == 0)
            .then(pl.lit([], dtype=rows.schema["options"]))
            .otherwise(pl.col("options"))
            .alias("options")
        )
        rows.write_parquet(hostile / data_file())
        res = verify(hostile, tmp_path / "out", cache_dir)
        assert res.exit_code == 0, res.output
        assert listener.requests == []  # nothing reached the listener, with or without key
    written = "".join(p.read_text(errors="ignore") for p in (tmp_path / "out").rglob("*.json"))
    assert SECRET not in written and url not in written


def test_the_dataset_cannot_make_verify_load_a_pickle_from_its_folder(
    dataset: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the linker index verify uses lives under the user's cache folder; an attacker ships the
    # same folder layout inside the dataset, a pickle in place of the vectoriser, and sets
    # the recorded cache_dir to "."
    (index,) = [p for p in (cache_dir / "linker").iterdir() if p.is_dir()][:1]
    hostile = hostile_copy(dataset, tmp_path, cache_dir=".")
    planted = hostile / "linker" / index.name
    shutil.copytree(index, planted)
    canary = tmp_path / "pwned"
    (planted / "tfidf_vectorizer.joblib").write_bytes(pickle.dumps(Canary(canary)))
    # the victim: no --cache-dir, run from inside the dataset (so "." is the dataset); their
    # own default cache (under a HOME of the test's) already holds the KG and index
    home = tmp_path / "home"
    shutil.copytree(cache_dir, home / ".cache" / "kgsynth")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(hostile)
    res = CliRunner().invoke(app, ["verify", ".", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert not canary.exists()


def test_a_kg_file_the_dataset_names_is_not_opened(
    dataset: Path, tmp_path: Path, cache_dir: Path
) -> None:
    hostile = hostile_copy(dataset, tmp_path, kg="triples:/etc/hostname")
    res = verify(hostile, tmp_path / "out", cache_dir)
    assert res.exit_code == 2
    assert "does not open files a dataset names" in res.output and "--kg" in res.output


def test_only_check_settings_are_taken_from_a_dataset() -> None:
    recorded = {
        "kg": "hpo",
        "cache_dir": "/tmp/attacker",
        "out": "/etc",
        "generator": "openai",
        "llm": {"base_url": "http://evil", "api_key_env": "AWS_SECRET_ACCESS_KEY"},
        "linking": {"threshold": 0.9, "ner_model": "/tmp/evil_model"},
        "paths": {"max_hops": 2},
        "verify": {
            "claims": {"max_hops": 1},
            "likelihood": {"model_path": "/tmp/evil", "margin": 0.2, "device": "cuda"},
            "free_text": {"method": "judge", "model_path": "/tmp/evil", "threshold": 0.7},
        },
        "run": {"result_dir": "/tmp/evil"},
    }
    assert dataset_settings(recorded) == {
        "kg": "hpo",
        "linking": {"threshold": 0.9},
        "paths": {"max_hops": 2},
        "verify": {
            "claims": {"max_hops": 1},
            "likelihood": {"margin": 0.2},
            "free_text": {"threshold": 0.7},
        },
    }
