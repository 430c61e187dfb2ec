"""A kgsynth build leaves no process behind: neither when it ends, nor when it is SIGKILLed.

With no PREFECT_API_URL a build that needs a Prefect API (one on Dask: its workers report
to it) runs against a temporary server in a child process (kgsynth/prefect_server.py); a
local build starts none (tests/test_startup.py). The build runs as the real CLI in a session
of its own, so every process it starts, however re-parented later, is found by its session
id.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from kgsynth.prefect_server import prefect_api

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 240.0  # the build's imports and the server's start on a busy machine
GONE_TIMEOUT_S = 20.0  # the watchdog polls every 0.2 s; uvicorn then shuts down


def _env() -> dict[str, str]:
    # no Prefect API configured: the case in which a temporary server is started
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return env | {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def _build_cmd(out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "kgsynth.cli", "build", "--limit", "2",
        "--out", str(out), "--cache-dir", str(cache), *extra,
    ]  # fmt: skip


def _alive(p: psutil.Process) -> bool:
    # an orphan that has exited stays a zombie until init reaps it: that one is gone
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _session(sid: int) -> list[psutil.Process]:
    """Live processes of session `sid` (re-parented orphans included)."""
    found = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and _alive(p):
                found.append(p)
        except (ProcessLookupError, PermissionError):
            continue
    return found


def _describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        try:
            out.append(f"{p.pid}: {' '.join(p.cmdline())[:160]}")
        except psutil.Error:
            out.append(f"{p.pid}: (gone)")
    return out


def _wait_gone(sid: int, timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while (left := _session(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _server_child(root: psutil.Process) -> psutil.Process | None:
    for child in root.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        # ours, or Prefect's own (so that this test tells when the fix is not in place)
        if "kgsynth.prefect_server" in cmd or "prefect.server.api.server:create_app" in cmd:
            return child
    return None


def _healthy(server: psutil.Process) -> bool:
    """The server answers on the port it listens on (ours inherits it, Prefect's binds it)."""
    try:
        ports = [c.laddr.port for c in server.net_connections("tcp") if c.status == "LISTEN"]
    except psutil.Error:
        return False
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            continue
    return False


@pytest.mark.parametrize("serving", [True, False], ids=["serving", "booting"])
def test_sigkilled_build_leaves_no_process(tmp_path: Path, serving: bool) -> None:
    log = (tmp_path / "build.log").open("wb")
    # on Dask, the build that starts a server (its worker processes must go as well)
    cmd = _build_cmd(
        tmp_path / "out", tmp_path / "cache", "--task-runner", "dask", "--workers", "1"
    )
    proc = subprocess.Popen(
        cmd,
        cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        root = psutil.Process(proc.pid)
        deadline = time.monotonic() + START_TIMEOUT_S
        # serving: the state the leak mattered in (the server up, the build running);
        # booting: the server child still importing, before uvicorn has started
        while (server := _server_child(root)) is None or (serving and not _healthy(server)):
            tail = (tmp_path / "build.log").read_text()[-3000:]
            assert proc.poll() is None, tail
            assert time.monotonic() < deadline, "no Prefect server child came up\n" + tail
            time.sleep(0.2)
        assert proc.poll() is None  # killed mid-run, not after its own clean-up
        os.kill(proc.pid, signal.SIGKILL)  # the build alone: its children must follow by themselves
        killed = time.monotonic()
        proc.wait()
        left = _wait_gone(proc.pid, GONE_TIMEOUT_S)
        assert not left, _describe(left)
        print(f"all gone {time.monotonic() - killed:.1f} s after the kill")
        assert not _alive(server)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its process group
        except ProcessLookupError:
            pass
        for p in _session(proc.pid):  # and of its session, in case a child left the group
            p.kill()
        proc.wait()
        log.close()


def test_finished_dask_build_leaves_no_process(tmp_path: Path, cache_dir: Path) -> None:
    # Dask workers report to the temporary server (runs.py hands them its URL)
    cmd = _build_cmd(tmp_path / "out", cache_dir, "--task-runner", "dask", "--workers", "1")
    proc = subprocess.Popen(
        [*cmd, "--shard-size", "1"], cwd=REPO, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, output.decode()[-3000:]
        assert "input 2 = exported" in output.decode()
        # the server is stopped at exit, so nothing should be left even a moment later
        left = _wait_gone(proc.pid, 5.0)
        assert not left, _describe(left)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for p in _session(proc.pid):
            p.kill()
        proc.wait()


def test_a_set_api_url_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    url = "http://127.0.0.1:9/api"  # never contacted
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    with temporary_settings({PREFECT_API_URL: url}), prefect_api() as started:
        assert started is None
        assert PREFECT_API_URL.value() == url
        assert "PREFECT_API_URL" not in os.environ
    assert {c.pid for c in psutil.Process().children(recursive=True)} == before
