"""Persistent LLM response cache: one SQLite file under the build's cache dir.

The key is a hash of everything that decides a reply (endpoint, model, messages, sampling
parameters, response format, prompt version), so a re-run of a finished build sends nothing
and a killed build resumes where it stopped. Each response is committed as soon as it
arrives: a SIGKILL loses at most the requests still in flight. Only replies that the caller
accepted are stored (an error or a reply that failed parsing is worth another try next
time), and nothing that authenticates a request (API key, headers) is ever written.

Builds that share one cache also share the work: before sending, a client claims the keys
it is about to send in the `inflight` table (owner, host, pid, lease expiry). A key that a
live owner holds is not sent again but waited for; a claim whose owner died (same host, pid
gone) or whose lease ran out is taken over. The owner renews its leases while it works and
releases a claim when its reply is stored or its request failed.

The cache checks itself: a file SQLite cannot read, or one that fails `PRAGMA quick_check`,
is moved aside (`responses.sqlite.damaged-<time>`, with one warning) and a new cache is
started; each row carries a digest of its reply, and a row whose reply no longer matches it
is dropped with a warning and asked for again. A damaged reply is never reused as good.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kgsynth import cache_layout

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_ENDPOINT = "https://api.openai.com/v1"  # what the openai client uses without base_url

_DDL = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    response_id TEXT,
    step TEXT,
    created_at REAL NOT NULL,
    digest TEXT
)
"""
_COLUMNS = (
    "key, model, text, prompt_tokens, completion_tokens, response_id, step, created_at, digest"
)
_INFLIGHT_DDL = """
CREATE TABLE IF NOT EXISTS inflight (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires REAL NOT NULL
)
"""
_CHUNK = 500  # keys per statement: under SQLite's bound-parameter limit


def cache_path(cache_dir: Path) -> Path:
    return cache_layout.llm_path(cache_dir)


def normalise_endpoint(base_url: str | None) -> str:
    """Scheme, host, port and path only: credentials or a query in a URL never reach a key."""
    parts = urlsplit(base_url or DEFAULT_ENDPOINT)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def cache_key(
    *,
    endpoint: str | None,
    model: str,
    messages: list[dict[str, str]],
    params: dict[str, Any],
    response_format: dict[str, Any] | None,
    prompt_version: str,
) -> str:
    payload = {
        "v": SCHEMA_VERSION,
        "endpoint": normalise_endpoint(endpoint),
        "model": model,
        "messages": messages,
        "params": params,
        "response_format": response_format,
        "prompt_version": prompt_version,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    response_id: str | None = None


@dataclass
class InflightClaim:
    """What one `claim` call found: replies already stored, keys now held by this cache's
    owner (send them), keys a live other owner holds (wait for them)."""

    answered: dict[str, CachedResponse] = field(default_factory=dict)
    mine: set[str] = field(default_factory=set)
    held: set[str] = field(default_factory=set)


def row_digest(key: str, model: str, text: str, p_tok: int, c_tok: int, rid: str | None) -> str:
    """What a stored row must still hash to: the reply and everything read back with it."""
    blob = json.dumps([key, model, text, p_tok, c_tok, rid], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(keys), _CHUNK):
        yield keys[i : i + _CHUNK]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


class ResponseCache:
    """Get and put replies by key, and claim keys while they are in flight. Safe to share
    between threads; WAL lets several builds read while one writes. Each instance is one
    owner of in-flight claims."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = self._open(path)
        except sqlite3.DatabaseError as e:
            aside = move_aside(path)
            log.warning(
                "LLM response cache %s is damaged (%s); moved to %s, starting a new one",
                path,
                e,
                aside.name,
            )
            self._db = self._open(path)
        self.owner = uuid.uuid4().hex
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self.dropped = 0  # rows found damaged and dropped by this instance

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        # the event loop thread and the caller's thread both use it, always under the lock
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=10000")
            # structure first: a cut or overwritten file fails here, before anything is read
            found = [r[0] for r in db.execute("PRAGMA quick_check")]
            if found != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(map(str, found[:3])))
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a killed process (only an OS crash can
            # lose the last commits), and costs no fsync per response
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_DDL)
            db.execute(_INFLIGHT_DDL)
            _add_digests(db)
        except BaseException:
            db.close()
            raise
        return db

    def get_many(self, keys: list[str]) -> dict[str, CachedResponse]:
        out: dict[str, CachedResponse] = {}
        uniq = list(dict.fromkeys(keys))
        with self._lock:
            self._read(uniq, out)
        return out

    def _read(self, keys: list[str], out: dict[str, CachedResponse]) -> None:
        damaged: list[str] = []
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT key, text, model, prompt_tokens, completion_tokens, response_id, digest "
                f"FROM responses WHERE key IN ({marks})",
                chunk,
            )
            for key, text, model, p_tok, c_tok, rid, digest in rows:
                if digest != row_digest(key, model, text, p_tok, c_tok, rid):
                    damaged.append(key)
                    continue
                out[key] = CachedResponse(text, model, p_tok, c_tok, rid)
        if damaged:
            log.warning(
                "LLM response cache %s: %d stored repl%s no longer match their digest; "
                "dropped, asked for again",
                self.path,
                len(damaged),
                "y" if len(damaged) == 1 else "ies",
            )
            self.dropped += len(damaged)
            for chunk in _chunks(damaged):
                marks = ",".join("?" * len(chunk))
                self._db.execute(f"DELETE FROM responses WHERE key IN ({marks})", chunk)

    def get(self, key: str) -> CachedResponse | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, resp: CachedResponse, step: str = "") -> None:
        """Store and commit at once, so the row outlives a kill a moment later; this owner's
        claim on the key goes in the same commit (whoever waits for it finds the reply)."""
        fields = (
            key,
            resp.model,
            resp.text,
            resp.prompt_tokens,
            resp.completion_tokens,
            resp.response_id,
        )
        row = (*fields, step, time.time(), row_digest(*fields))
        with self._lock, self._transaction():
            self._db.execute(
                f"INSERT OR REPLACE INTO responses ({_COLUMNS}) VALUES ({','.join('?' * 9)})",
                row,
            )
            self._db.execute("DELETE FROM inflight WHERE key = ? AND owner = ?", (key, self.owner))

    # -- in-flight claims ------------------------------------------------------------------
    def claim(
        self, keys: Iterable[str], lease_s: float, ignore_answered: Iterable[str] = ()
    ) -> InflightClaim:
        """In one transaction: the keys already answered (except `ignore_answered`: replies
        the caller found unusable), then a claim on every other key that no live owner holds.
        Batched so that a whole batch costs one commit, not one per request."""
        out = InflightClaim()
        uniq = list(dict.fromkeys(keys))
        if not uniq:
            return out
        skip = set(ignore_answered)
        now = time.time()
        with self._lock, self._transaction():
            self._read([k for k in uniq if k not in skip], out.answered)
            rest = [k for k in uniq if k not in out.answered]
            holders: dict[str, tuple[str, str, int, float]] = {}
            for chunk in _chunks(rest):
                marks = ",".join("?" * len(chunk))
                for key, owner, host, pid, expires in self._db.execute(
                    f"SELECT key, owner, host, pid, expires FROM inflight WHERE key IN ({marks})",
                    chunk,
                ):
                    holders[key] = (owner, host, pid, expires)
            for key in rest:
                h = holders.get(key)
                if h is not None and h[0] != self.owner and self._live(h[1], h[2], h[3], now):
                    out.held.add(key)
                else:
                    out.mine.add(key)
            self._db.executemany(
                "INSERT OR REPLACE INTO inflight VALUES (?, ?, ?, ?, ?)",
                [(k, self.owner, self._host, self._pid, now + lease_s) for k in out.mine],
            )
        return out

    def _live(self, host: str, pid: int, expires: float, now: float) -> bool:
        # a SIGKILLed build on this machine leaves claims behind: its pid tells at once
        if expires <= now:
            return False
        return host != self._host or pid == self._pid or _pid_alive(pid)

    def renew(self, lease_s: float) -> None:
        """Push back the expiry of every claim this owner holds (it is still working)."""
        with self._lock:
            self._db.execute(
                "UPDATE inflight SET expires = ? WHERE owner = ?",
                (time.time() + lease_s, self.owner),
            )

    def release(self, keys: Iterable[str]) -> None:
        """Drop this owner's claims on `keys` (its requests failed or ended)."""
        uniq = list(dict.fromkeys(keys))
        if not uniq:
            return
        with self._lock, self._transaction():
            for chunk in _chunks(uniq):
                marks = ",".join("?" * len(chunk))
                self._db.execute(
                    f"DELETE FROM inflight WHERE owner = ? AND key IN ({marks})",
                    [self.owner, *chunk],
                )

    def _transaction(self) -> _Tx:
        return _Tx(self._db)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            try:  # a client that ends never leaves a claim for others to wait out
                self._db.execute("DELETE FROM inflight WHERE owner = ?", (self.owner,))
            except sqlite3.Error:
                pass
            self._db.close()


def move_aside(path: Path) -> Path:
    """Rename a damaged cache and its WAL files out of the way (kept for a post-mortem)."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            os.replace(part, aside.with_name(aside.name + suffix))
    return aside


def _add_digests(db: sqlite3.Connection) -> None:
    """A cache written before rows had digests gets the column, and its rows their digests
    as they stand now (they were stored by an earlier kgsynth, which checked them then)."""
    columns = {r[1] for r in db.execute("PRAGMA table_info(responses)")}
    if "digest" in columns:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("ALTER TABLE responses ADD COLUMN digest TEXT")
        rows = db.execute(
            "SELECT key, model, text, prompt_tokens, completion_tokens, response_id FROM responses"
        ).fetchall()
        db.executemany(
            "UPDATE responses SET digest = ? WHERE key = ?",
            [(row_digest(*r), r[0]) for r in rows],
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def verify(path: Path) -> str | None:
    """`kgsynth cache verify`: SQLite's full integrity check and every row's digest; a
    description of the damage, or None. Reads only: nothing is moved or dropped."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = [r[0] for r in db.execute("PRAGMA integrity_check")]
        if found != ["ok"]:
            return "; ".join(map(str, found[:3]))
        if "digest" not in {r[1] for r in db.execute("PRAGMA table_info(responses)")}:
            return None  # written before digests: they are added when a build opens it
        bad = sum(
            digest is not None and digest != row_digest(*rest)
            for *rest, digest in db.execute(
                "SELECT key, model, text, prompt_tokens, completion_tokens, response_id, "
                "digest FROM responses"
            )
        )
        return f"{bad} replies do not match their digest" if bad else None
    except sqlite3.DatabaseError as e:
        return str(e)
    finally:
        db.close()


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the write lock is taken up front, so
    two builds claiming at once serialise instead of both reading the key as free."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
