"""`--out` is written safely: never a folder of someone else's, a dataset replaced only with
`overwrite` and only whole, a kill mid-write leaves the old dataset, a bad path fails first."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from kgsynth import atomic
from kgsynth.cli import app
from kgsynth.config import load_config
from kgsynth.errors import InputError, OutputError
from kgsynth.export.hub import data_file
from kgsynth.export.out import check_out
from kgsynth.export.rows import rows_frame
from kgsynth.export.write import write_dataset
from kgsynth.records import Reject
from kgsynth.synth.config import SynthConfig

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _write(out: Path, title: str = "t", overwrite: bool = False, n_rejects: int = 1) -> None:
    rejects = [Reject(id=f"r{i}", stage="link", reason="no_answer") for i in range(n_rejects)]
    write_dataset(out, rows_frame([], "hpo", "h"), rejects, f"# {title}\n", {}, overwrite=overwrite)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kgsynth dataset folder (empty rows, one reject), written once; tests copy it."""
    out = tmp_path_factory.mktemp("ds") / "ds"
    _write(out, "original")
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too) by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def copy_of(dataset: Path, where: Path) -> Path:
    shutil.copytree(dataset, where)
    return where


def no_temps(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if ".kgsynth-" in p.name]


def foreign_folder(where: Path) -> Path:
    """The auditor's case: a README, a build.json and a shard, none of them kgsynth's."""
    (where / "data").mkdir(parents=True)
    (where / "README.md").write_text("# my notes\n")
    (where / "build.json").write_text(json.dumps({"compiler": "gcc"}))
    pl.DataFrame({"x": [1, 2]}).write_parquet(where / "data" / "train-00001-of-00002.parquet")
    return where


def assert_clean_error(res, *needles: str) -> None:
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    for needle in needles:
        assert needle in res.output, res.output


# -- what may be written -----------------------------------------------------------------


def test_a_non_empty_foreign_folder_is_refused_and_untouched(tmp_path: Path):
    out = foreign_folder(tmp_path / "mine")
    before = snapshot(out)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not a kgsynth dataset"):
            _write(out, overwrite=overwrite)
    assert snapshot(out) == before
    assert no_temps(tmp_path)


def test_cli_refuses_a_foreign_folder_before_any_work(tmp_path: Path):
    out = foreign_folder(tmp_path / "mine")
    before = snapshot(out)
    cache = tmp_path / "cache"
    for extra in ([], ["--overwrite"]):
        res = runner.invoke(
            app, ["build", "--out", str(out), "--cache-dir", str(cache), "--limit", "2", *extra]
        )
        assert_clean_error(res, "not a kgsynth dataset", "choose a new or empty folder")
    assert snapshot(out) == before
    assert not cache.exists()  # nothing started: no KG, no cache


def test_an_empty_folder_or_a_new_path_is_written(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "empty")
    _write(tmp_path / "new" / "deeper")
    for out in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        assert (out / data_file()).is_file() and (out / "README.md").is_file()
        manifest = json.loads((out / "build.json").read_text())["kgsynth_files"]
        assert sorted(snapshot(out)) == manifest
    assert no_temps(tmp_path) and no_temps(tmp_path / "new")
    # the folder gets the umask's mode, not a temp folder's 0700
    assert (tmp_path / "new" / "deeper").stat().st_mode & 0o777 == 0o777 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_existing_dataset_is_replaced_only_with_overwrite(dataset: Path, tmp_path: Path):
    out = copy_of(dataset, tmp_path / "ds")
    before = snapshot(out)
    with pytest.raises(OutputError, match="already holds a kgsynth dataset.*--overwrite"):
        _write(out, "second")
    assert snapshot(out) == before

    _write(out, "second", overwrite=True, n_rejects=2)
    assert "# second" in (out / "README.md").read_text()
    assert pl.read_parquet(out / "rejects.parquet").height == 2
    assert no_temps(tmp_path)


def test_cli_refuses_an_existing_dataset_without_overwrite(dataset: Path, tmp_path: Path):
    out = copy_of(dataset, tmp_path / "ds")
    before = snapshot(out)
    cache = tmp_path / "cache"
    for cmd in (["build", "--limit", "2"], ["synth-kg", "--n", "2"]):
        res = runner.invoke(app, [*cmd, "--out", str(out), "--cache-dir", str(cache)])
        assert_clean_error(res, "already holds a kgsynth dataset", "--overwrite")
    assert snapshot(out) == before and not cache.exists()


def test_a_foreign_file_in_an_old_dataset_is_never_deleted(dataset: Path, tmp_path: Path):
    out = copy_of(dataset, tmp_path / "ds")
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    with pytest.raises(OutputError, match=r"holds notes\.txt, which kgsynth did not write"):
        _write(out, overwrite=True)
    assert snapshot(out) == before

    # a file in kgsynth's own layout that its writer did not list is someone else's too
    out2 = copy_of(dataset, tmp_path / "ds2")
    extra = out2 / data_file(1, 2)
    extra.write_bytes(b"someone's shard")
    with pytest.raises(OutputError, match=r"data/train-00001-of-00002\.parquet"):
        _write(out2, overwrite=True)
    assert extra.read_bytes() == b"someone's shard"
    assert no_temps(tmp_path)


def test_a_dataset_written_before_the_file_list_is_recognised(dataset: Path, tmp_path: Path):
    out = copy_of(dataset, tmp_path / "old")
    summary = json.loads((out / "build.json").read_text())
    del summary["kgsynth_files"]
    summary |= {"counts": {"input": 1}, "exported": 0, "rejected": 1}  # an old build's keys
    (out / "build.json").write_text(json.dumps(summary))
    with pytest.raises(OutputError, match="already holds a kgsynth dataset"):
        check_out(out, overwrite=False)
    (out / "data" / "keep.csv").write_text("a,b\n")
    with pytest.raises(OutputError, match=r"data/keep\.csv"):
        check_out(out, overwrite=True)
    (out / "data" / "keep.csv").unlink()
    _write(out, "new", overwrite=True)
    assert "kgsynth_files" in json.loads((out / "build.json").read_text())


# -- bad paths fail first, in the CLI and in the flows -------------------------------------


def test_out_that_is_a_file_or_under_one_fails_before_any_work(tmp_path: Path):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    cache = tmp_path / "cache"
    for out, needle in ((a_file, "is a file"), (a_file / "sub" / "o", "under the file")):
        for cmd in (["build", "--limit", "2"], ["synth-kg", "--n", "2"]):
            started = time.monotonic()
            res = runner.invoke(app, [*cmd, "--out", str(out), "--cache-dir", str(cache)])
            assert_clean_error(res, needle, str(a_file))
            assert time.monotonic() - started < 10
    assert a_file.read_text() == "x" and not cache.exists()


def test_every_path_argument_is_checked_before_any_work(tmp_path: Path):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    cache = tmp_path / "cache"
    out = ["--out", str(tmp_path / "o")]
    cases = [
        (["--qa", str(tmp_path / "missing.jsonl")], "no such QA file"),
        (["--qa", str(tmp_path)], "QA file is a folder"),
        (["--config", str(tmp_path / "missing.toml")], "no such file"),
        (["--config", str(tmp_path)], "is a folder"),
    ]
    for args, needle in cases:
        res = runner.invoke(app, ["build", *args, *out, "--cache-dir", str(cache)])
        assert_clean_error(res, needle)
    assert not cache.exists()
    for cache_arg in (a_file, a_file / "c"):
        res = runner.invoke(app, ["build", *out, "--cache-dir", str(cache_arg)])
        assert_clean_error(res, "cache_dir")
        res = runner.invoke(app, ["synth-kg", *out, "--cache-dir", str(cache_arg)])
        assert_clean_error(res, "cache_dir")
    # the cache inside the output folder would be lost with it, or make it foreign
    res = runner.invoke(app, ["build", *out, "--cache-dir", str(tmp_path / "o" / "cache")])
    assert_clean_error(res, "lies inside it")
    assert not (tmp_path / "o").exists()


def test_verify_checks_its_paths_first(dataset: Path, tmp_path: Path):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    cache = ["--cache-dir", str(tmp_path / "cache")]
    for out, needle in (
        (a_file, "is a file"),
        (dataset, "another folder"),
        (dataset / "sub", "another folder"),
    ):
        res = runner.invoke(app, ["verify", str(dataset), "--out", str(out), *cache])
        assert_clean_error(res, needle)
    target = copy_of(dataset, tmp_path / "target")
    res = runner.invoke(app, ["verify", str(dataset), "--out", str(target), *cache])
    assert_clean_error(res, "already holds a kgsynth dataset", "--overwrite")
    assert not (tmp_path / "cache").exists()


def test_the_flows_check_their_paths_first(tmp_path: Path):
    """Deployments run the flows without the CLI: the flows check too, before any work."""
    from flows.build import build_dataset
    from flows.synth import synth_from_kg

    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    cache = tmp_path / "cache"
    with pytest.raises(OutputError, match="under the file"):
        build_dataset(load_config(None, {"out": a_file / "o", "cache_dir": cache}))
    with pytest.raises(InputError, match="no such QA file"):
        build_dataset(load_config(None, {"qa": [tmp_path / "nope.jsonl"], "cache_dir": cache}))
    with pytest.raises(OutputError, match="is a file"):
        synth_from_kg(SynthConfig(out=a_file, cache_dir=cache, n=1))
    assert not cache.exists()


# -- a kill mid-write ----------------------------------------------------------------------


def test_an_error_after_the_data_file_is_written_leaves_the_old_dataset(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    out = copy_of(dataset, tmp_path / "ds")
    before = snapshot(out)
    written: list[Path] = []

    def crash(*args: object, **kwargs: object) -> list[str]:
        written.extend(tmp_path.glob(".ds.kgsynth-tmp-*/data/*.parquet"))
        raise RuntimeError("card failed")

    monkeypatch.setattr("kgsynth.export.write.stats_lines", crash)
    with pytest.raises(RuntimeError, match="card failed"):
        _write(out, "new", overwrite=True)
    assert written  # the new data file was written, beside the old dataset
    assert snapshot(out) == before
    assert no_temps(tmp_path)


KILLER = textwrap.dedent(
    """
    import os, pathlib, signal, sys
    import polars as pl
    from kgsynth.export.rows import rows_frame
    from kgsynth.export import write

    out, when = pathlib.Path(sys.argv[1]), sys.argv[2]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if when == "export":  # after the data file and the rejects, in the plots
        write.write_plots = lambda *a, **k: die()
    else:  # between the two renames of a replace: the old folder moved aside
        rename = pathlib.Path.rename
        def rename_then_die(self, target):
            done = rename(self, target)
            if ".kgsynth-old-" in pathlib.Path(target).name:
                die()
            return done
        pathlib.Path.rename = rename_then_die
    write.write_dataset(out, rows_frame([], "hpo", "h"), [], "# killed\\n", {}, overwrite=True)
    """
)


def _killed_write(out: Path) -> Iterator[str]:
    for when in ("export", "swap"):
        proc = subprocess.run(
            [sys.executable, "-c", KILLER, str(out), when], cwd=REPO, capture_output=True
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
        yield when


def test_sigkill_mid_write_leaves_the_old_dataset(dataset: Path, tmp_path: Path):
    out = copy_of(dataset, tmp_path / "ds")
    before = snapshot(out)
    kill = _killed_write(out)

    # killed while writing: the old dataset stands as it was; the half-written new one lies
    # under kgsynth's temporary name, which the next run removes
    next(kill)
    assert snapshot(out) == before
    (half,) = [p for p in tmp_path.iterdir() if ".ds.kgsynth-tmp-" in p.name]
    assert (half / data_file()).is_file()
    check_out(out, overwrite=True)
    assert not half.exists() and snapshot(out) == before

    # killed between the renames: no folder under the final name, the old one beside it,
    # whole; the next run puts it back before anything else
    next(kill)
    assert not out.exists()
    (old,) = [p for p in tmp_path.iterdir() if ".ds.kgsynth-old-" in p.name]
    assert snapshot(old) == before
    with pytest.raises(OutputError, match="already holds a kgsynth dataset"):
        check_out(out, overwrite=False)
    assert snapshot(out) == before and no_temps(tmp_path)


def test_only_a_dead_local_runs_own_temp_folders_are_cleaned(dataset: Path, tmp_path: Path):
    out = copy_of(dataset, tmp_path / "ds")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = atomic._HOST
    keep = [
        tmp_path / ".tmp-abc123",  # another tool's (or the KG cache's) temp name
        tmp_path / f".ds.kgsynth-tmp-otherhost-{dead.pid}-abcd",  # another host's run
        tmp_path / f".ds.kgsynth-tmp-{host}-{os.getpid()}-abcd",  # a live run's
        tmp_path / f".other.kgsynth-tmp-{host}-{dead.pid}-abcd",  # another folder's
    ]
    stale = tmp_path / f".ds.kgsynth-tmp-{host}-{dead.pid}-abcd"
    for p in [*keep, stale]:
        (p / "data").mkdir(parents=True)
        (p / "data" / "x.parquet").write_bytes(b"x")
    assert all(atomic.is_temp_name(p.name) for p in [*keep[1:], stale])
    assert not atomic.is_temp_name(keep[0].name)
    _write(out, "new", overwrite=True)
    assert not stale.exists()
    assert all((p / "data" / "x.parquet").read_bytes() == b"x" for p in keep)


def test_a_link_out_replaces_the_folder_it_points_to(dataset: Path, tmp_path: Path):
    real = copy_of(dataset, tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(real)
    _write(link, "through the link", overwrite=True)
    assert link.is_symlink() and "through the link" in (real / "README.md").read_text()


# -- end to end: a run that replaces a dataset -----------------------------------------------


def test_synth_kg_with_overwrite_replaces_a_dataset(dataset: Path, tmp_path: Path, cache_dir):
    out = copy_of(dataset, tmp_path / "ds")
    args = ["synth-kg", "--n", "2", "--out", str(out), "--cache-dir", str(cache_dir)]
    res = runner.invoke(app, args)
    assert_clean_error(res, "--overwrite")
    res = runner.invoke(app, [*args, "--overwrite"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "build.json").read_text())
    assert summary["exported"] == 2 and summary["config"]["overwrite"] is True
    assert sorted(snapshot(out)) == summary["kgsynth_files"] and no_temps(tmp_path)
