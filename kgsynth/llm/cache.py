"""Persistent LLM response cache: one SQLite file under the build's cache dir.

The key is a hash of everything that decides a reply (endpoint, model, messages, sampling
parameters, response format, prompt version), so a re-run of a finished build sends nothing
and a killed build resumes where it stopped. Each response is committed as soon as it
arrives: a SIGKILL loses at most the requests still in flight. Only successful replies are
stored (an error is worth another try next time), and nothing that authenticates a request
(API key, headers) is ever written.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
    created_at REAL NOT NULL
)
"""


def cache_path(cache_dir: Path) -> Path:
    return cache_dir / "llm" / "responses.sqlite"


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


class ResponseCache:
    """Get and put replies by key. Safe to share between threads; WAL lets several builds
    read while one writes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        # the event loop thread and the caller's thread both use it, always under the lock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a killed process (only an OS crash can lose
        # the last commits), and costs no fsync per response
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(_DDL)

    def get_many(self, keys: list[str]) -> dict[str, CachedResponse]:
        out: dict[str, CachedResponse] = {}
        uniq = list(dict.fromkeys(keys))
        with self._lock:
            for i in range(0, len(uniq), 500):  # stay under SQLite's bound-parameter limit
                chunk = uniq[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT key, text, model, prompt_tokens, completion_tokens, response_id "
                    f"FROM responses WHERE key IN ({marks})",
                    chunk,
                )
                for key, text, model, p_tok, c_tok, rid in rows:
                    out[key] = CachedResponse(text, model, p_tok, c_tok, rid)
        return out

    def get(self, key: str) -> CachedResponse | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, resp: CachedResponse, step: str = "") -> None:
        """Store and commit at once (autocommit), so the row outlives a kill a moment later."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    resp.model,
                    resp.text,
                    resp.prompt_tokens,
                    resp.completion_tokens,
                    resp.response_id,
                    step,
                    time.time(),
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
