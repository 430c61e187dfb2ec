"""Start-up: the CLI imports nothing heavy until a command needs it, and an ad-hoc local run
needs no Prefect API server (kgsynth/prefect_server.py). Timings live in bench/startup.py."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from kgsynth import prefect_server
from kgsynth.cli import app

REPO = Path(__file__).resolve().parents[1]
# packages that take from a tenth of a second to seconds to import
HEAVY = {
    "prefect", "spacy", "scispacy", "thinc", "torch", "transformers", "polars", "numpy",
    "pyarrow", "openai", "matplotlib", "datasketch", "scipy", "distributed", "yaml",
}  # fmt: skip
START_TIMEOUT_S = 180.0  # a Prefect server's start on a loaded machine


def _env() -> dict[str, str]:
    # no Prefect API configured: the ad-hoc case
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return env | {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def _heavy_after(code: str) -> list[str]:
    """The heavy packages a fresh interpreter has imported after running `code`."""
    heavy = sorted(HEAVY)
    probe = (
        f"import json, sys\n{code}\nprint(json.dumps(sorted(set({heavy!r}) & set(sys.modules))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def _commands() -> list[str]:
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    return names + [g.name for g in app.registered_groups]


def test_importing_the_cli_imports_nothing_heavy():
    assert _heavy_after("import kgsynth.cli") == []


def test_help_lists_every_command():
    done = subprocess.run(
        [sys.executable, "-m", "kgsynth.cli", "--help"],
        cwd=REPO, env=_env() | {"COLUMNS": "200"}, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    panel = done.stdout.split(" Commands ", 1)[1]
    listed = re.findall(r"^│ (\S+) ", panel, re.MULTILINE)  # a command's first line
    assert sorted(listed) == sorted(_commands())
    assert {"build", "synth-kg", "inspect", "verify", "deploy", "kg", "cache"} <= set(listed)


@pytest.mark.parametrize("command", _commands())
def test_a_command_help_imports_nothing_heavy(command: str):
    code = (
        "from kgsynth.cli import app\n"
        f"try:\n    app([{command!r}, '--help'])\nexcept SystemExit as e:\n    assert not e.code"
    )
    assert _heavy_after(code) == []


def _session_servers(sid: int) -> set[str]:
    """Command lines of Prefect API servers among the live processes of session `sid`."""
    found = set()
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) != sid:
                continue
            cmd = " ".join(p.cmdline())
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
        # ours, Prefect's own temporary one, or any uvicorn
        if "kgsynth.prefect_server" in cmd or "prefect.server" in cmd or "uvicorn" in cmd:
            found.add(cmd)
    return found


def test_plain_build_starts_no_server_process(tmp_path: Path, cache_dir: Path):
    cmd = [
        sys.executable, "-m", "kgsynth.cli", "build", "--limit", "4",
        "--out", str(tmp_path / "out"), "--cache-dir", str(cache_dir),
    ]  # fmt: skip
    log = tmp_path / "build.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=_env(), stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        servers: set[str] = set()
        try:
            # a server, once started, would live until the build's exit: polling sees it
            while proc.poll() is None:
                servers |= _session_servers(proc.pid)
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = log.read_text()
    assert proc.returncode == 0, output[-3000:]
    assert "input 4 = exported" in output
    assert not servers


def test_local_build_reuses_its_shard_cache_without_an_api(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    prefect_server._server.stop()  # whatever an earlier test started: none of this run's
    config = tmp_path / "build.toml"
    config.write_text(f'[run]\ncache_results = true\nresult_dir = "{tmp_path / "results"}"\n')
    runs = []
    for out in ("a", "b"):
        res = CliRunner().invoke(
            app,
            [
                "build", "--limit", "6", "--shard-size", "3", "--config", str(config),
                "--cache-dir", str(cache_dir), "--out", str(tmp_path / out),
            ],
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        runs.append(json.loads((tmp_path / out / "build.json").read_text())["run"])
    assert [r["shards"] for r in runs] == [2, 2]
    assert [r["cached_shards"] for r in runs] == [0, 2]  # Prefect's task cache, no API
    assert not prefect_server.server_started()


def _health(url: str) -> int:
    # straight to 127.0.0.1, whatever proxy the environment names
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/health", timeout=START_TIMEOUT_S) as r:
        return int(r.status)


def test_temporary_server_starts_on_first_use_only(monkeypatch: pytest.MonkeyPatch):
    from prefect import flow
    from prefect.context import FlowRunContext

    @flow
    def in_a_flow_run() -> bool:
        return FlowRunContext.get() is not None

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    try:
        with prefect_server.prefect_api() as url:
            assert url is not None
            assert prefect_server.temporary_api()
            # a local run: the flow's function, no flow run, no server
            assert prefect_server.call_flow(in_a_flow_run) is False
            assert not prefect_server.server_started()
            # the URL is valid before the server runs: the first request starts it
            assert _health(url) == 200
            assert prefect_server.server_started()
            # a run that needs the API is a flow run against that server
            assert prefect_server.call_flow(in_a_flow_run, needs_api=True) is True
    finally:
        prefect_server._server.stop()
    assert not prefect_server.server_started()
