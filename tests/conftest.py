from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"

# Flows run in-process start Prefect's own temporary server, which gives up after 20 s; on a
# loaded 2-core machine its start can take longer than that, which is not what tests test
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@pytest.fixture(scope="session", autouse=True)
def _own_signing_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The shard-cache signing key (kgsynth.signing) of the test session, not the user's."""
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))
    os.environ.pop("KGSYNTH_SIGNING_KEY", None)


@pytest.fixture(scope="session")
def medqa_path() -> Path:
    if not SHARED_MEDQA.exists():
        pytest.fail(
            f"shared MedQA file missing: {SHARED_MEDQA} (../shared must sit beside the repo)"
        )
    return SHARED_MEDQA


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the whole session: the HPO KG and alias index are built once."""
    return tmp_path_factory.mktemp("kgsynth-cache")


@pytest.fixture(scope="session")
def hpo_kg(cache_dir: Path):
    from kgsynth.kg import load_kg

    return load_kg("hpo", cache_dir=cache_dir)


# -- a real Neo4j server ----------------------------------------------------------------------

from collections.abc import Iterator  # noqa: E402

from neo4j_server import Neo4jConnection, Neo4jServer, fetch_neo4j  # noqa: E402


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Neo4jConnection]:
    """A real Neo4j Community 5.x server on 127.0.0.1 for the whole session (tests/neo4j_server.py).

    The jars come from Maven Central once (cached, see KGSYNTH_NEO4J_HOME); auth is on with a
    random password. While it runs, KGSYNTH_NEO4J_URI / _USER / _PASSWORD / _DATABASE are set
    in os.environ (and restored afterwards) so code under test can read its credentials there.
    """
    with Neo4jServer(fetch_neo4j()) as conn:
        env = {
            "KGSYNTH_NEO4J_URI": conn.uri,
            "KGSYNTH_NEO4J_USER": conn.user,
            "KGSYNTH_NEO4J_PASSWORD": conn.password,
            "KGSYNTH_NEO4J_DATABASE": conn.database,
        }
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            yield conn
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


_LOOPBACK = {"127.0.0.1", "::1", "localhost", ""}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The socket layer refuses any host but this machine for the test's duration; the
    list it yields records every refused attempt (name lookups and connections)."""
    import socket

    attempts: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def host_of(address: object) -> str:
        return str(address[0] if isinstance(address, tuple) else address)

    def refuse(what: str) -> OSError:
        attempts.append(what)
        return OSError(f"test: network access refused ({what})")

    def connect(sock: socket.socket, address: object) -> None:
        if sock.family != socket.AF_UNIX and host_of(address) not in _LOOPBACK:
            raise refuse(f"connect {address}")
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        if sock.family != socket.AF_UNIX and host_of(address) not in _LOOPBACK:
            raise refuse(f"connect {address}")
        return real_connect_ex(sock, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host is not None and str(host) not in _LOOPBACK:
            raise refuse(f"lookup {host}")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts
