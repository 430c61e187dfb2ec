"""A keyed content hash (HMAC-SHA256) on cache files that are read back with pickle.

A cache folder is data anyone with write access can plant files in (a shared disk, a folder
shipped with a dataset, a cache_dir named by someone else's config). Files that get
unpickled are therefore sealed when kgsynth wrote them: a header and the HMAC of the content
under the user's signing key, in front of the content (`seal`) or in a file beside it
(`signature`, kgsynth.shard_store). The seal is checked before anything is unpickled; a
file without a valid one (planted, damaged, cut short, or sealed under another key) is
refused, and the caller treats it as a cache miss.

The key is 32 random bytes kept outside every cache folder: `$KGSYNTH_SIGNING_KEY` (hex; for
Dask workers on other machines, which must share the flow machine's key), else the file
`$XDG_CONFIG_HOME/kgsynth/signing.key` (default ~/.config/kgsynth/signing.key), created on
first use with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import cache
from pathlib import Path

from kgsynth.errors import KGSynthError

MAGIC = b"KGSYNTH-HMAC-SHA256\n"
_MAC_LEN = 32
KEY_ENV = "KGSYNTH_SIGNING_KEY"


class BadSeal(KGSynthError, ValueError):
    """A sealed cache file whose seal is missing or does not match its content."""


def key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kgsynth" / "signing.key"


@cache
def _key_for(env_value: str | None, path: Path) -> bytes:
    if env_value:
        try:
            key = bytes.fromhex(env_value)
        except ValueError as e:
            raise KGSynthError(f"{KEY_ENV} must be hex (64 characters for 32 bytes)") from e
        if len(key) < 16:
            raise KGSynthError(f"{KEY_ENV} is too short: at least 16 bytes (32 hex characters)")
        return key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # written whole under a private name, then linked into place: link() fails when the
        # name exists, so processes starting at once all read the one key that won, never a
        # file still being written
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_bytes()
    if len(key) < 16:
        raise KGSynthError(f"{path}: signing key is damaged (delete it to make a new one)")
    return key


def signing_key() -> bytes:
    return _key_for(os.environ.get(KEY_ENV), key_file())


def _mac(data: bytes) -> bytes:
    return hmac.new(signing_key(), data, hashlib.sha256).digest()


def signature(data: bytes) -> bytes:
    """The seal of `data` alone (kept beside it, in a file of its own)."""
    return MAGIC + _mac(data)


def seal(data: bytes) -> bytes:
    """`data` with its seal in front (one file)."""
    return signature(data) + data


def unseal(blob: bytes, where: str) -> bytes:
    """The payload of a sealed blob, or BadSeal naming `where`."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _MAC_LEN:
        raise BadSeal(f"{where}: not a sealed kgsynth cache file")
    mac = blob[len(MAGIC) : len(MAGIC) + _MAC_LEN]
    data = blob[len(MAGIC) + _MAC_LEN :]
    if not hmac.compare_digest(mac, _mac(data)):
        raise BadSeal(f"{where}: seal does not match its content (damaged or not written here)")
    return data
