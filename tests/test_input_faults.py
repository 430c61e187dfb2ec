"""Input faults an audit found (issue 13): credentials in endpoint URLs published, tracebacks
printed for known errors, empty QA input, header-only / truncated / compressed KG files."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.cli_common import KnownErrorFilter
from kgsynth.config import BuildConfig, load_config
from kgsynth.errors import InputError, KGSynthError
from kgsynth.kg import load_kg
from kgsynth.redact import has_credentials, redact_url

REPO = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-value"

# -- redact_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("http://user:s3cr3t@host:8000/v1", "http://***@host:8000/v1"),
        ("https://tok@host/v1", "https://***@host/v1"),
        ("http://u:p@ss@host/v1", "http://***@host/v1"),  # an unencoded "@" in the password
        ("https://host/v1?api_key=abc&model=x", "https://host/v1?api_key=***&model=x"),
        ("https://host/v1?API-KEY=abc", "https://host/v1?API-KEY=***"),
        ("https://host/v1?Token=a;sig=b", "https://host/v1?Token=***;sig=***"),
        (
            "https://h/o?X-Amz-Signature=a&X-Amz-Credential=b",
            "https://h/o?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        (
            "https://h/o?access_token=a&password=b&secret=c&key=d",
            "https://h/o?access_token=***&password=***&secret=***&key=***",
        ),
        ("https://h/cb#access_token=a&state=1", "https://h/cb#access_token=***&state=1"),
        ("http://host/p?x=a@b//c@d", "http://host/p?x=a@b//c@d"),  # no userinfo, no secret
        ("tcp://10.0.0.1:8786", "tcp://10.0.0.1:8786"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("http://[::1", "http://[::1"),  # malformed: masked where it can be, never raises
    ],
)
def test_redact_url(url: str, want: str) -> None:
    assert redact_url(url) == want
    assert has_credentials(url) == (url != want)


def test_config_json_is_redacted_but_the_working_url_stays() -> None:
    url = f"http://user:{SECRET}@llm.local/v1?api_key={SECRET}"
    dask = f"tls://user:{SECRET}@sched:8786"
    cfg = load_config(
        None, {"llm": {"base_url": url}, "run": {"task_runner": "dask", "dask_address": dask}}
    )
    assert cfg.llm.base_url == url and cfg.run.dask_address == dask
    assert SECRET not in json.dumps(cfg.model_dump(mode="json"))
    assert SECRET not in cfg.model_dump_json()
    assert cfg.model_dump(mode="json")["llm"]["base_url"] == "http://***@llm.local/v1?api_key=***"
    # Python mode (and pickling, which Dask workers get) keeps the working URL
    assert cfg.model_dump()["llm"]["base_url"] == url
    assert BuildConfig.model_validate(cfg.model_dump()).llm.base_url == url


# -- a build publishes no credentials -----------------------------------------------------------


def tiny_inputs(folder: Path) -> tuple[Path, Path]:
    kg = folder / "tiny.tsv"
    kg.write_text(
        "head\trelation\ttail\thead_name\ttail_name\n"
        "D:1\thas_phenotype\tP:1\tMarfan syndrome\tEctopia lentis\n"
        "D:1\thas_phenotype\tP:2\tMarfan syndrome\tArachnodactyly\n"
        "D:2\thas_phenotype\tP:3\tDown syndrome\tBrushfield spots\n"
    )
    qa = folder / "qa.jsonl"
    rows = [
        {
            "id": "q1",
            "question": "A tall boy has ectopia lentis and arachnodactyly. Diagnosis?",
            "options": {"A": "Marfan syndrome", "B": "Down syndrome"},
            "answer_idx": "A",
            "answer": "Marfan syndrome",
        }
    ]
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return kg, qa


def test_build_json_card_and_prefect_parameters_hold_no_credentials(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import (
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    from flows.build import build_dataset

    kg, qa = tiny_inputs(tmp_path)
    url = f"http://user:{SECRET}@llm.local/v1?api_key={SECRET}"
    out = tmp_path / "out"
    cfg = load_config(
        None,
        {
            "qa": [qa],
            "kg": str(kg),
            "out": out,
            "cache_dir": tmp_path / "cache",
            "llm": {"base_url": url},
        },
    )
    # a loaded machine may need more than Prefect's 20 s to start its temporary server
    with temporary_settings({PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 180}):
        state = build_dataset(cfg, return_state=True)
    assert state.is_completed(), state
    summary = (out / "build.json").read_text()
    assert SECRET not in summary
    assert json.loads(summary)["config"]["llm"]["base_url"] == redact_url(url)
    assert SECRET not in (out / "README.md").read_text()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    stored = json.dumps(run.parameters)
    assert SECRET not in stored and redact_url(url) in stored
    assert cfg.llm.base_url == url  # the caller's config is untouched


def test_deploy_refuses_credentials_in_parameters(tmp_path: Path) -> None:
    text = (REPO / "prefect.yaml").read_text()
    marker = "        generator: offline\n"
    assert marker in text
    bad = tmp_path / "prefect.yaml"
    llm = f"        llm:\n          base_url: http://user:{SECRET}@llm.local/v1\n"
    bad.write_text(text.replace(marker, marker + llm, 1))
    (tmp_path / "flows").symlink_to(REPO / "flows")
    res = CliRunner().invoke(app, ["deploy", "--file", str(bad), "--check"])
    assert res.exit_code == 2, res.output
    assert "config.llm.base_url" in res.output and "credentials" in res.output
    assert SECRET not in res.output


# -- known errors print one line, no traceback ---------------------------------------------------


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # a real process: Prefect's console handler writes to the real stderr, which CliRunner
    # does not capture
    env = {
        **os.environ,
        "COLUMNS": "200",
        "PREFECT_HOME": str(cwd / "prefect-home"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    return subprocess.run(
        [sys.executable, "-m", "kgsynth.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_input_error_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    qa = tmp_path / "bad.csv"
    qa.write_text("question,answer\nWhat is q1?,a\nWhat is q2?,a,extra\n")
    res = run_cli(["build", "--qa", str(qa), "--out", str(tmp_path / "o")], tmp_path)
    text = res.stdout + res.stderr
    assert res.returncode == 2, text
    assert "Traceback" not in text and "Finished in state" not in text, text
    errors = [line for line in text.splitlines() if "error" in line.lower()]
    want = f"error: {qa}, line 3: cannot read: found more fields than defined in 'Schema'"
    assert errors == [want], text


def test_empty_qa_file_exits_2_naming_the_file(tmp_path: Path) -> None:
    qa = tmp_path / "empty.jsonl"
    qa.write_text("\n")
    res = run_cli(["build", "--qa", str(qa), "--out", str(tmp_path / "o")], tmp_path)
    text = res.stdout + res.stderr
    assert res.returncode == 2, text
    assert f"error: {qa}: no QA rows" in text and "Traceback" not in text, text
    assert not (tmp_path / "o").exists()


def test_empty_qa_files_name_every_file(tmp_path: Path) -> None:
    from kgsynth.stages import StageContext
    from kgsynth.stages.read import ReadStage

    a, b = tmp_path / "a.jsonl", tmp_path / "b.csv"
    a.write_text("")
    b.write_text("question,answer\n")
    cfg = load_config(None, {"qa": [a, b]})
    with pytest.raises(InputError) as err:
        ReadStage(cfg).run([a, b], StageContext(cfg=cfg))
    assert str(a) in str(err.value) and str(b) in str(err.value)
    assert "no QA rows" in str(err.value)
    # rows that are all rejects are input: read and reported, not an error
    b.write_text("question,answer\n,\nq,\n")
    assert ReadStage(cfg).run([b], StageContext(cfg=cfg)).rejects


def record(msg: str, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, msg, None, info)


def test_known_error_filter_keeps_unknown_errors() -> None:
    f = KnownErrorFilter()
    err = InputError("x.csv", "bad", line=3)
    assert not f.filter(record(f"Task run failed with exception: {err!r}", err))
    assert not f.filter(
        record(f"Finished in state Failed('Task run encountered an exception InputError: {err}')")
    )
    assert not f.filter(
        record("Finished in state Failed('Flow run encountered an exception: ConfigError: x')")
    )
    boom = RuntimeError("boom")
    assert f.filter(record("Task run failed with exception: RuntimeError('boom')", boom))
    assert f.filter(
        record("Finished in state Failed('Task run encountered an exception RuntimeError: b')")
    )
    assert f.filter(record("plain message"))
    assert issubclass(InputError, KGSynthError)


# -- KG files -------------------------------------------------------------------------------------


def kg_error(path: Path) -> InputError:
    with pytest.raises(InputError) as err:
        load_kg(str(path))
    return err.value


def test_header_only_kg_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "kg.tsv"
    path.write_text("head\trelation\ttail\n")
    err = kg_error(path)
    assert err.path == str(path) and "no rows after the header" in str(err)
    # rows, but no edge once self-loops are dropped: no paths, said at load
    path.write_text("head\trelation\ttail\nA\tr\tA\n")
    err = kg_error(path)
    assert err.path == str(path) and "0 edges" in str(err)


@pytest.mark.parametrize(
    ("tail", "line", "what"),
    [
        ('B\tr\t"C an', 3, "never closes"),  # cut inside a quoted field, no newline
        ('B\tr\t"C an\n', 3, "never closes"),
        ('B\t"r\tC\nC\tr\tD\n', 3, "never closes"),  # the quote swallows the rest
        ("B\tr", 3, "row has 2 fields"),  # cut between fields
    ],
)
@pytest.mark.parametrize("compressed", [False, True])
def test_truncated_kg_names_the_line(
    tmp_path: Path, tail: str, line: int, what: str, compressed: bool
) -> None:
    text = "head\trelation\ttail\nA\tr\tB\n" + tail
    path = tmp_path / ("kg.tsv.gz" if compressed else "kg.tsv")
    path.write_bytes(gzip.compress(text.encode()) if compressed else text.encode())
    err = kg_error(path)
    assert (err.path, err.line) == (str(path), line) and what in str(err), str(err)


def test_gzip_kg_is_streamed_and_reads_as_the_plain_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = "".join(f"N:{i}\trelated_to\tN:{(i * 7) % 500}\n" for i in range(500))
    text = "head\trelation\ttail\n" + rows * 40
    plain = tmp_path / "kg.tsv"
    plain.write_text(text)
    packed = tmp_path / "kg.tsv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    a, b = load_kg(str(plain)), load_kg(str(packed))
    assert (a.hash, a.n_nodes, a.n_edges) == (b.hash, b.n_nodes, b.n_edges)
    assert a.ids == b.ids and a.names == b.names
    assert not list(scratch.iterdir())  # the decompressed copy is gone with its reader
    packed.write_bytes(gzip.compress(text.encode())[:-40])  # cut short
    err = kg_error(packed)
    assert err.path == str(packed) and "corrupt gzip data" in str(err)
    assert not list(scratch.iterdir())
