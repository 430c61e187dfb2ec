"""A temporary Prefect API server that does not outlive the kgsynth process that started it.

With no PREFECT_API_URL, Prefect 3 starts a temporary API server (uvicorn, ~230 MB) as a
subprocess on first use and stops it from an `atexit` hook. A SIGKILLed (or SIGTERMed)
kgsynth runs no `atexit` hook, so that server used to live on, orphaned, forever.

`prefect_api()` starts the same server itself instead, through this module's `main`, which
runs uvicorn next to a watchdog thread: once the server's parent pid changes (the parent
died, however), it shuts uvicorn down and, failing that, exits hard. Polling `getppid()`
works on Linux and macOS alike and, unlike PR_SET_PDEATHSIG, does not fire when the *thread*
that started the child ends. For the block the server's URL is this process's Prefect API
(its settings and the environment, which Dask workers and other children inherit); the
server itself is shared by later blocks and stopped at normal interpreter exit, after
Prefect has flushed its log and event queues into it (atexit hooks run after those flushes).
The server boots while the command goes on (see `_Server.start`), as Prefect's would have
booted on first use; a command that fails before it needs the API does not wait for it.

With PREFECT_API_URL set (environment or Prefect profile) nothing is started or changed.
"""

from __future__ import annotations

import argparse
import atexit
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

POLL_S = 0.2  # how often the watchdog checks its parent
EXIT_GRACE_S = 10.0  # uvicorn's graceful shutdown gets this long before a hard exit
STOP_TIMEOUT_S = 5.0  # the parent waits this long after SIGTERM before SIGKILL
BACKLOG = 256  # connections that may queue while the server boots (Dask workers included)
ENV_API_URL = "PREFECT_API_URL"


class _Server:
    """One watched server process (this process's only one, see `_ensure_server`)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> str:
        from prefect.settings import get_current_settings

        # This process binds and listens, the child serves on the inherited socket: the URL
        # is valid at once, and requests made while the server still boots wait in the
        # listen backlog instead of failing. So nothing here waits for the boot, which runs
        # beside the command's own start-up (and costs a command that fails early nothing).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.listen(BACKLOG)
            port = int(sock.getsockname()[1])
            # what Prefect's own SubprocessASGIServer passes: no UI, ephemeral-server mode,
            # and the settings of the active profile (its database URL, for one)
            env = {
                **os.environ,
                "PREFECT_UI_ENABLED": "0",
                "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1",
                **get_current_settings().to_environment_variables(exclude_unset=True),
            }
            fd = sock.fileno()
            cmd = [sys.executable, "-m", __name__, "--parent", str(os.getpid()), "--fd", str(fd)]
            self.proc = subprocess.Popen(cmd, env=env, pass_fds=(fd,))
        finally:
            sock.close()  # the child holds its own copy
        self.url = f"http://127.0.0.1:{port}/api"
        return self.url

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_server = _Server()
_lock = threading.Lock()
atexit.register(_server.stop)


def _ensure_server() -> str:
    with _lock:
        if not _server.alive():
            _server.start()
        return _server.url


@contextmanager
def prefect_api() -> Iterator[str | None]:
    """Run the block against a watched temporary API server when no Prefect API is set.

    Yields the server's URL, or None when PREFECT_API_URL is set (then nothing changes).
    """
    import prefect.context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield None
        return
    url = _ensure_server()
    saved_env = os.environ.get(ENV_API_URL)
    saved_global = prefect.context.GLOBAL_SETTINGS_CONTEXT
    os.environ[ENV_API_URL] = url
    # Threads whose context holds no settings (Prefect's own background threads among them)
    # read the process-global settings, built from the environment at import: rebuild it.
    prefect.context.GLOBAL_SETTINGS_CONTEXT = prefect.context.root_settings_context()
    try:
        with temporary_settings({PREFECT_API_URL: url}):  # this context, whatever it holds
            yield url
    finally:
        prefect.context.GLOBAL_SETTINGS_CONTEXT = saved_global
        if saved_env is None:
            os.environ.pop(ENV_API_URL, None)
        else:
            os.environ[ENV_API_URL] = saved_env


# -- the server process ---------------------------------------------------------------------


def _watch_parent(parent: int, server: list[uvicorn.Server]) -> None:
    """End this process once `parent` is no longer its parent (it died; we were re-parented)."""
    while os.getppid() == parent:
        time.sleep(POLL_S)
    if not server:  # still importing: nothing to shut down gracefully
        os._exit(1)
    server[0].should_exit = True  # uvicorn's graceful shutdown
    time.sleep(EXIT_GRACE_S)
    os._exit(1)  # a shutdown stuck on an open connection must not keep us alive


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Prefect API server that exits with its parent")
    ap.add_argument("--parent", type=int, required=True, help="pid to outlive by no more")
    ap.add_argument("--fd", type=int, required=True, help="listening TCP socket to serve on")
    args = ap.parse_args(argv)
    # started before the slow imports: a parent that dies meanwhile is noticed as well
    server: list[uvicorn.Server] = []
    threading.Thread(target=_watch_parent, args=(args.parent, server), daemon=True).start()
    import uvicorn

    sock = socket.socket(fileno=args.fd)  # family and type read from the descriptor
    config = uvicorn.Config(
        "prefect.server.api.server:create_app",
        factory=True,
        log_level="error",
        lifespan="on",
        timeout_graceful_shutdown=int(EXIT_GRACE_S) // 2,
    )
    server.append(uvicorn.Server(config))
    server[0].run(sockets=[sock])


if __name__ == "__main__":
    main()
