"""A real Prefect server for tests: `prefect server start` on a free port of 127.0.0.1.

The server keeps its state in a throwaway PREFECT_HOME with a SQLite database there; the UI,
analytics and telemetry are off. `PrefectServer.env` is the environment every process that
should talk to it runs with (the `prefect` CLI, a worker, `kgsynth deploy`); `api()` points
this process's Prefect client at it for the duration of a `with` block. `Proc` starts such a
process in a session of its own, so stopping it takes its children too (a worker's flow-run
subprocesses).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

PREFECT = str(Path(sys.executable).parent / "prefect")
START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child process in its own session, its output in a log file."""

    def __init__(self, name: str, cmd: Sequence[str], env: dict[str, str], log: Path, **kw) -> None:
        self.name = name
        self.log = log
        self._fh = log.open("wb")
        self.popen = subprocess.Popen(
            list(cmd), env=env, stdout=self._fh, stderr=subprocess.STDOUT,
            start_new_session=True, **kw,
        )  # fmt: skip

    def tail(self, n: int = 4000) -> str:
        try:
            return f"--- {self.name} log ({self.log}) ---\n" + self.log.read_text()[-n:]
        except OSError:
            return f"--- {self.name}: no log ---"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the whole process group, SIGKILL if it has not ended in `timeout`."""
        if self.alive():
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
                try:
                    os.killpg(self.popen.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # children left in the group (a flow run the worker started) go too
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._fh.close()


class PrefectServer:
    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="kgsynth-prefect-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        self.env = base | {
            "PREFECT_HOME": str(self.home),
            "PREFECT_PROFILES_PATH": str(self.home / "profiles.toml"),
            "PREFECT_API_URL": self.url,
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.home}/prefect.db",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_CLI_PROMPT": "false",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        self.proc: Proc | None = None

    def __enter__(self) -> PrefectServer:
        cmd = [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = Proc("prefect server", cmd, self.env, self.home / "server.log")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._healthy():
            if not self.proc.alive():
                self.stop()
                raise RuntimeError("prefect server exited during start-up\n" + self.proc.tail())
            if time.monotonic() > deadline:
                tail = self.proc.tail()
                self.stop()
                raise TimeoutError(f"prefect server not healthy in {START_TIMEOUT_S:.0f}s\n{tail}")
            time.sleep(0.5)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        if not os.environ.get("KGSYNTH_PREFECT_KEEP"):
            shutil.rmtree(self.home, ignore_errors=True)

    def cli(self, *args: str, cwd: Path | None = None, timeout: float = 180) -> str:
        """Run `prefect ARGS` against this server; its output, or an error that shows it."""
        done = subprocess.run(
            [PREFECT, *args], env=self.env, cwd=cwd, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    @contextmanager
    def api(self) -> Iterator[None]:
        """This process's Prefect client talks to this server inside the block."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: self.url}):
            yield
