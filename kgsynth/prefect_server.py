"""The Prefect API of an ad-hoc kgsynth command, and how such a command runs its flow.

With PREFECT_API_URL set (environment or Prefect profile) a command's flow is a normal flow
run against that API, and nothing here starts or changes anything.

With none set, `prefect_api()` gives the command a temporary API server that costs nothing
until something talks to it: its socket is bound and listening at once (so its URL is valid
from the start, and a request made while the server boots waits in the listen backlog), but
its process starts only on the first connection, or when `call_flow` knows the run needs it.
A plain local run does not: `call_flow` runs the flow's function in this process, its tasks
through Prefect's task engine as ever (retries, the persisted shard cache), with nothing
sent to an API (no flow run record, no events; Prefect's console log as ever), so no server
is started and nobody waits for one. A run on Dask does: its workers report their task
runs to the API, so the server boots at once, beside the rest of the command's start-up.
The flows stay real Prefect flows; deployments (kgsynth deploy, a worker) run them as such.

Prefect's own temporary server (the one `get_client` starts when no API is set) is stopped
from an `atexit` hook, which a SIGKILLed (or SIGTERMed) kgsynth never runs: that server used
to live on, orphaned, forever. Ours runs through this module's `main`, uvicorn next to a
watchdog thread: once the server's parent pid changes (the parent died, however), it shuts
uvicorn down and, failing that, exits hard. Polling `getppid()` works on Linux and macOS
alike and, unlike PR_SET_PDEATHSIG, does not fire when the *thread* that started the child
ends (here a watcher thread starts it). The server is shared by later blocks and stopped at
normal interpreter exit, after Prefect has flushed its log and event queues into it (atexit
hooks run after those flushes).
"""

from __future__ import annotations

import argparse
import atexit
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import uvicorn
    from prefect import Flow
    from prefect.settings import Settings
    from prefect.settings.legacy import Setting

T = TypeVar("T")

POLL_S = 0.2  # how often the watchdog checks its parent
EXIT_GRACE_S = 10.0  # uvicorn's graceful shutdown gets this long before a hard exit
STOP_TIMEOUT_S = 5.0  # the parent waits this long after SIGTERM before SIGKILL
BACKLOG = 256  # connections that may queue while the server boots (Dask workers included)
SERVER_THREAD = "kgsynth-prefect-api"  # the thread that starts the server process


class _Server:
    """This process's temporary API server (its only one): the socket is bound by `open`,
    the process started by a watcher thread on the first connection or on `start`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._sock: socket.socket | None = None  # listening, its server not started yet
        self._wake = -1  # write end of the pipe that wakes the watcher
        self._env: dict[str, str] = {}
        self._settings: Settings | None = None

    def usable(self) -> bool:
        """Whether `url` still leads to a server (started, or started on first use)."""
        with self.lock:
            if self._sock is not None:
                return True
            return self.proc is not None and self.proc.poll() is None

    def open(self) -> str:
        """Bind the socket (once; again after the server died) and return the API URL."""
        from prefect.settings import get_current_settings

        if self.usable():
            return self.url
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(BACKLOG)
        # the server's environment and settings as they are now, before the command points
        # its own at this server (see _spawn)
        env, settings = dict(os.environ), get_current_settings()
        wake_r, wake_w = os.pipe()
        with self.lock:
            self._sock, self._wake, self.proc = sock, wake_w, None
            self._env, self._settings = env, settings
            self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
        threading.Thread(
            target=self._watch, args=(sock, wake_r), name=SERVER_THREAD, daemon=True
        ).start()
        return self.url

    def start(self) -> None:
        """Start the server process now (in the background) if it has not started yet."""
        with self.lock:
            if self._sock is not None:
                os.write(self._wake, b"s")

    def _watch(self, sock: socket.socket, wake_r: int) -> None:
        # One wait: a connection (someone uses the API) or a byte on the pipe (start/stop).
        try:
            select.select([sock, wake_r], [], [])
            with self.lock:
                if self._sock is sock:  # not stopped (nor replaced) meanwhile
                    self._sock = None
                    os.close(self._wake)
                    self._spawn(sock)
        finally:
            os.close(wake_r)
            sock.close()  # a started child holds its own copy

    def _spawn(self, sock: socket.socket) -> None:
        # What Prefect's own SubprocessASGIServer passes: no UI, ephemeral-server mode and
        # the settings of the active profile (its database URL, for one).
        assert self._settings is not None
        env = {
            **self._env,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            **self._settings.to_environment_variables(exclude_unset=True),
        }
        # The child serves on the inherited socket, connections already queued included.
        fd = sock.fileno()
        cmd = [sys.executable, "-m", __name__, "--parent", str(os.getpid()), "--fd", str(fd)]
        self.proc = subprocess.Popen(cmd, env=env, pass_fds=(fd,))

    def stop(self) -> None:
        with self.lock:
            if self._sock is not None:  # not started: the watcher closes the socket
                self._sock = None
                os.write(self._wake, b"x")
                os.close(self._wake)
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
_temporary: str | None = None  # the URL of `_server` while a prefect_api() block runs
atexit.register(_server.stop)


def _with_value(model: Any, path: Sequence[str], value: Any) -> Any:
    """A copy of a (nested) settings model with the field at `path` set to `value`."""
    head, *rest = path
    if rest:
        value = _with_value(getattr(model, head), rest, value)
    return model.model_copy(update={head: value})


@contextmanager
def _copied_settings(updates: Mapping[Setting, Any]) -> Iterator[None]:
    """`temporary_settings` without validating the whole settings tree again (~0.1 s): the
    current settings, copied with these fields changed. Only for plain values that no other
    setting is derived from (the switches of `_without_api`)."""
    import prefect.context

    context = prefect.context.get_settings_context()
    settings = context.settings
    for setting, value in updates.items():
        settings = _with_value(settings, setting.accessor.split("."), value)
    with prefect.context.SettingsContext(profile=context.profile, settings=settings):
        yield


@contextmanager
def _settings(updates: Mapping[Setting, Any], validate: bool = True) -> Iterator[None]:
    """Prefect settings for the block: this context's, the environment's (children inherit
    it) and the process-global ones that threads without a settings context read (Prefect's
    own background threads among them), which Prefect built from the environment at import:
    those become this block's settings context too. `validate=False`: see _copied_settings."""
    import prefect.context
    from prefect.settings import temporary_settings

    saved_env = {s.name: os.environ.get(s.name) for s in updates}
    saved_global = prefect.context.GLOBAL_SETTINGS_CONTEXT
    for setting, value in updates.items():
        os.environ[setting.name] = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        with temporary_settings(dict(updates)) if validate else _copied_settings(updates):
            prefect.context.GLOBAL_SETTINGS_CONTEXT = prefect.context.get_settings_context()
            yield
    finally:
        prefect.context.GLOBAL_SETTINGS_CONTEXT = saved_global
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def prefect_api() -> Iterator[str | None]:
    """Run the block against a watched temporary API server when no Prefect API is set.

    Yields the server's URL, or None when PREFECT_API_URL is set (then nothing changes).
    The server process starts when something connects, or on `call_flow(needs_api=True)`.
    """
    from prefect.settings import PREFECT_API_URL

    global _temporary
    if PREFECT_API_URL.value():
        yield None
        return
    url = _server.open()
    saved = _temporary
    _temporary = url
    try:
        with _settings({PREFECT_API_URL: url}):
            yield url
    finally:
        _temporary = saved


def temporary_api() -> bool:
    """Whether this command's Prefect API is the temporary server of `prefect_api()`."""
    from prefect.settings import PREFECT_API_URL

    return _temporary is not None and PREFECT_API_URL.value() == _temporary


def server_started() -> bool:
    """Whether this process has started a temporary server process (that still runs)."""
    with _server.lock:
        return _server.proc is not None and _server.proc.poll() is None


@contextmanager
def _without_api() -> Iterator[None]:
    """Task runs that send nothing to the API: no events, no logs, no version handshake."""
    from prefect.context import SyncClientContext
    from prefect.events.clients import NullEventsClient
    from prefect.events.worker import EventsWorker
    from prefect.settings import (
        PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED,
        PREFECT_LOGGING_TO_API_ENABLED,
    )

    EventsWorker.set_client_override(NullEventsClient)
    try:
        off = {
            PREFECT_LOGGING_TO_API_ENABLED: False,
            PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED: False,
        }
        # one client for every task run (each would make its own, TLS context and all)
        with _settings(off, validate=False), SyncClientContext.get_or_create():
            yield
    finally:
        EventsWorker.set_client_override(None)


def call_flow(flow: Flow[..., T], *args: Any, needs_api: bool = False) -> T:
    """Run an ad-hoc command's flow; see the module doc.

    Against the temporary API of `prefect_api()`, a run that does not need it (`needs_api`:
    its tasks run in other processes, which report to the API) runs the flow's function here
    without any API; one that does starts the server now. Against any other API the flow
    runs as a flow run. Either way its tasks run through Prefect's task engine.
    """
    if not temporary_api():
        return flow(*args)
    if needs_api:
        _server.start()
        return flow(*args)
    with _without_api():
        return flow.fn(*args)


def unpersisted_storage() -> Path:
    """Result storage for a task that persists nothing (the flows' tasks but the shard
    cache). A task without storage of its own asks the API at every run for the server's
    default storage: this is what Prefect falls back to without one, its local result folder,
    and nothing is ever written there. It keeps a local run off the API."""
    from prefect.settings import get_current_settings

    return get_current_settings().results.local_storage_path


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
