"""A real Neo4j Community 5.x server for tests: fetched from Maven Central, run on localhost.

No Docker and no tarball from dist.neo4j.org: the community server is an ordinary Maven
artifact (`org.neo4j:neo4j`, which holds the entry point `org.neo4j.server.CommunityEntryPoint`
and pulls in Bolt, the Cypher runtime and the admin tool). `fetch_neo4j()` writes a tiny
pom.xml into a cache directory and lets `mvn dependency:copy-dependencies` put every jar into
`<cache>/lib` once; later runs reuse the jars.

`Neo4jServer` then starts `java -cp '<cache>/lib/*' org.neo4j.server.CommunityEntryPoint` with
a generated neo4j.conf in a throwaway home directory: Bolt on a free port of 127.0.0.1, HTTP
off, auth on with a random password (set before the first start with
`org.neo4j.cli.AdminTool dbms set-initial-password`), a small heap and page cache. Logs go to
`<home>/logs` (neo4j.log, debug.log, console.log); the home is removed on stop unless
KGSYNTH_NEO4J_KEEP=1.

Environment:
    KGSYNTH_NEO4J_HOME     the jar cache (default ~/.cache/kgsynth-test/neo4j-<version>)
    KGSYNTH_NEO4J_VERSION  the org.neo4j:neo4j version (default NEO4J_VERSION)
    KGSYNTH_NEO4J_KEEP     keep the server's temporary home after stop (debugging)
    JAVA_HOME, MVN         the java and mvn to use (default: from PATH)
"""

from __future__ import annotations

import atexit
import fcntl
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

NEO4J_VERSION = "5.26.30"  # newest 5.26 LTS on Maven Central that resolves; runs on Java 17
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
USER = "neo4j"
DATABASE = "neo4j"

# What the packaged `neo4j` launcher passes to the JVM (from its default neo4j.conf); the
# --add-opens let the page cache and Netty use direct buffers on Java 17 without warnings.
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)

_POM = """\
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kgsynth.test</groupId>
  <artifactId>neo4j-community-server</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.neo4j</groupId>
      <artifactId>neo4j</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def neo4j_version() -> str:
    return os.environ.get("KGSYNTH_NEO4J_VERSION") or NEO4J_VERSION


def neo4j_cache_dir(version: str | None = None) -> Path:
    """Where the pom.xml and lib/ live: KGSYNTH_NEO4J_HOME, or a per-version user cache."""
    if override := os.environ.get("KGSYNTH_NEO4J_HOME"):
        return Path(override).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "kgsynth-test" / f"neo4j-{version or neo4j_version()}"


def _tool(name: str, env_var: str | None = None) -> str:
    if env_var and (path := os.environ.get(env_var)):
        return path
    if name == "java" and (java_home := os.environ.get("JAVA_HOME")):
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"`{name}` not found on PATH: the Neo4j test server needs it")
    return found


def fetch_neo4j(version: str | None = None, cache: Path | None = None) -> Path:
    """The directory holding every jar of the Neo4j community server, fetched once.

    A lib/ that already holds neo4j-<version>.jar is used as it is. Otherwise Maven resolves
    the artifact (into ~/.m2 as usual) and copies the jars into lib/ through a temporary
    directory, so an interrupted fetch never leaves a half-filled lib/ behind. A file lock
    serialises concurrent test processes.
    """
    version = version or neo4j_version()
    cache = cache or neo4j_cache_dir(version)
    lib = cache / "lib"
    if (lib / f"neo4j-{version}.jar").is_file():
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (lib / f"neo4j-{version}.jar").is_file():  # another process fetched meanwhile
            return lib
        pom = cache / "pom.xml"
        pom.write_text(_POM.format(version=version), encoding="utf-8")
        partial = cache / "lib.partial"
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [
            _tool("mvn", "MVN"),
            "-B",
            "-q",
            "-f",
            str(pom),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        if proc.returncode != 0 or not (partial / f"neo4j-{version}.jar").is_file():
            tail = (proc.stdout + proc.stderr)[-4000:]
            raise RuntimeError(
                f"fetching org.neo4j:neo4j:{version} with Maven failed "
                f"(exit {proc.returncode}): {' '.join(cmd)}\n{tail}"
            )
        shutil.rmtree(lib, ignore_errors=True)
        partial.rename(lib)
    return lib


class _PortTaken(RuntimeError):
    """Another process bound the chosen Bolt port before Neo4j did."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path.name}: missing)"
    return f"--- {path} (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Neo4jConnection:
    """How tests reach the running server."""

    uri: str
    user: str
    password: str
    database: str
    version: str  # the server's version, e.g. "5.26.30"
    home: Path  # the server's temporary home (conf/, data/, logs/)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)


class Neo4jServer:
    """One Neo4j community server process with its own temporary home directory."""

    def __init__(
        self,
        lib: Path,
        *,
        heap: str = "1g",
        initial_heap: str = "256m",
        pagecache: str = "256m",
        startup_timeout_s: float = 120.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.lib = lib
        self.heap = heap
        self.initial_heap = initial_heap
        self.pagecache = pagecache
        self.startup_timeout_s = startup_timeout_s
        self.host = host
        # hex, not urlsafe: a password starting with "-" is read as an option by neo4j-admin
        self.password = "kg" + secrets.token_hex(16)
        self.home: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.connection: Neo4jConnection | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> Neo4jConnection:
        """Start the server; a port taken between choosing and binding it means a retry."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once()
            except _PortTaken:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self) -> Neo4jConnection:
        if self.process is not None:
            raise RuntimeError("Neo4j test server already started")
        self.home = Path(tempfile.mkdtemp(prefix="kgsynth-neo4j-"))
        atexit.register(self.stop)
        try:
            port = free_port(self.host)
            self._write_conf(port)
            self._set_initial_password()
            self._launch()
            self.connection = self._wait_until_ready(port)
        except BaseException:
            self.stop(graceful=False)  # nothing to shut down cleanly after a failed start
            raise
        return self.connection

    def stop(self, *, graceful: bool = True) -> None:
        """SIGTERM (Neo4j shuts down cleanly), SIGKILL after 60 s; then remove the home."""
        atexit.unregister(self.stop)
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            if graceful:
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        home, self.home = self.home, None
        if home is not None and not os.environ.get("KGSYNTH_NEO4J_KEEP"):
            shutil.rmtree(home, ignore_errors=True)

    def __enter__(self) -> Neo4jConnection:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- steps ----------------------------------------------------------------------------------

    @property
    def _home(self) -> Path:
        if self.home is None:
            raise RuntimeError("Neo4j test server has no home (not started)")
        return self.home

    @property
    def log_dir(self) -> Path:
        return self._home / "logs"

    def _classpath(self) -> str:
        return str(self.lib / "*")

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NEO4J_HOME"] = str(self._home)
        env["NEO4J_CONF"] = str(self._home / "conf")
        return env

    def _write_conf(self, port: int) -> None:
        home = self._home
        settings = {
            "server.default_listen_address": self.host,
            "server.bolt.enabled": "true",
            "server.bolt.listen_address": f"{self.host}:{port}",
            "server.bolt.advertised_address": f"{self.host}:{port}",
            "server.http.enabled": "false",
            "server.https.enabled": "false",
            "dbms.security.auth_enabled": "true",
            "dbms.usage_report.enabled": "false",
            "initial.dbms.default_database": DATABASE,
            "server.directories.data": str(home / "data"),
            "server.directories.logs": str(home / "logs"),
            "server.directories.plugins": str(home / "plugins"),
            "server.directories.import": str(home / "import"),
            "server.memory.heap.initial_size": self.initial_heap,
            "server.memory.heap.max_size": self.heap,
            "server.memory.pagecache.size": self.pagecache,
            "db.tx_log.preallocate": "false",
            "db.logs.query.enabled": "OFF",
            # Netty waits a 5 s quiet period per event loop group on shutdown; skip it.
            "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
        }
        for sub in ("conf", "data", "logs", "plugins", "import"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        text = "".join(f"{key}={value}\n" for key, value in settings.items())
        (home / "conf" / "neo4j.conf").write_text(text, encoding="utf-8")

    def _java(self, main_class: str, *args: str) -> list[str]:
        return [
            _tool("java"),
            f"-Xms{self.initial_heap}",
            f"-Xmx{self.heap}",
            *JVM_FLAGS,
            "-cp",
            self._classpath(),
            main_class,
            *args,
        ]

    def _set_initial_password(self) -> None:
        """Must run before the first start: it writes data/dbms/auth.ini for user neo4j."""
        cmd = self._java(ADMIN_TOOL, "dbms", "set-initial-password", self.password)
        proc = subprocess.run(
            cmd, env=self._env(), capture_output=True, text=True, timeout=300, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"neo4j-admin dbms set-initial-password failed (exit {proc.returncode}):\n"
                f"{(proc.stdout + proc.stderr)[-4000:]}"
            )

    def _launch(self) -> None:
        home = self._home
        cmd = self._java(ENTRY_POINT, f"--home-dir={home}", f"--config-dir={home / 'conf'}")
        with open(self.log_dir / "console.log", "wb") as console:
            self.process = subprocess.Popen(
                cmd,
                cwd=home,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in pytest must not kill it before stop()
            )

    def _wait_until_ready(self, port: int) -> Neo4jConnection:
        from neo4j import GraphDatabase
        from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired

        uri = f"bolt://{self.host}:{port}"
        deadline = time.monotonic() + self.startup_timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self._check_startup_failure()
            try:
                with GraphDatabase.driver(
                    uri,
                    auth=(USER, self.password),
                    connection_timeout=2.0,
                    connection_acquisition_timeout=5.0,  # a port's squatter may never answer
                ) as driver:
                    driver.verify_connectivity()
                    agent = driver.get_server_info().agent  # "Neo4j/5.26.30"
                return Neo4jConnection(
                    uri=uri,
                    user=USER,
                    password=self.password,
                    database=DATABASE,
                    version=agent.partition("/")[2],
                    home=self._home,
                )
            except AuthError as exc:
                raise RuntimeError(f"Neo4j refused the test password: {exc}") from exc
            except (ServiceUnavailable, SessionExpired, OSError) as exc:
                last_error = exc
            time.sleep(0.5)
        raise RuntimeError(
            f"Neo4j did not accept Bolt connections on {uri} within "
            f"{self.startup_timeout_s:.0f} s (last error: {last_error})\n{self.logs()}"
        )

    def _check_startup_failure(self) -> None:
        """Fail fast: after a failed start the JVM may linger for a minute before it exits."""
        exited = self.process is None or self.process.poll() is not None
        try:
            user_log = (self.log_dir / "neo4j.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            user_log = ""
        if not exited and "ERROR Failed to start Neo4j" not in user_log:
            return
        message = f"Neo4j failed to start\n{self.logs()}"
        if "Address already in use" in user_log:
            raise _PortTaken(message)
        raise RuntimeError(message)

    def logs(self, lines: int = 40) -> str:
        """The tails of the console, user and debug logs, for error messages."""
        if self.home is None:
            return "(no server home)"
        names = ("console.log", "neo4j.log", "debug.log")
        return "\n".join(_tail(self.log_dir / name, lines) for name in names)
