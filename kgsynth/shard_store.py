"""Finished shards in Prefect's result folder, admitted only when kgsynth vouches for them.

Prefect reads a persisted result record and unpickles it with whatever serializer the record
names, so a record planted in the result folder (a shared disk, a folder someone else's
config pointed at) would choose what runs. Prefect takes a custom storage block only once it
is saved on the API server, so the check sits around Prefect instead of inside it: after a
build, kgsynth writes a seal beside each record its shards wrote (`<key>.seal`: the record's
HMAC under the user's signing key, kgsynth.signing); before a build, a record of this
build's shards without a valid seal is moved aside (`<key>.refused`, with one warning), so
Prefect finds no cached result and runs the shard again. A damaged record fails the same
check, so it is rerun rather than read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from kgsynth.signing import BadSeal, signature, unseal

log = logging.getLogger(__name__)

SEAL_SUFFIX = ".seal"
REFUSED_SUFFIX = ".refused"


def _seal_path(record: Path) -> Path:
    return record.with_name(record.name + SEAL_SUFFIX)


def problem(record: Path) -> str | None:
    """Why `record` is not one kgsynth sealed as it now stands, or None when it is."""
    try:
        unseal(_seal_path(record).read_bytes() + record.read_bytes(), str(record))
    except FileNotFoundError as e:
        return "no seal" if e.filename == str(_seal_path(record)) else "record missing"
    except OSError as e:
        return f"unreadable ({e.strerror})"
    except BadSeal as e:
        return str(e)
    return None


def admit(folder: Path, keys: Iterable[str]) -> list[str]:
    """Move aside every record of `keys` whose seal is missing or does not hold; returns
    the keys refused (their shards run again)."""
    refused: list[str] = []
    for key in keys:
        record = folder / key
        seal_file = _seal_path(record)
        if not record.is_file():
            if seal_file.is_file():  # the record was deleted: Prefect reruns the shard
                log.warning("shard cache: %s is missing (its seal is left); it runs again", key)
                seal_file.unlink(missing_ok=True)
            continue
        why = problem(record)
        if why is not None:
            log.warning("shard cache: %s not written by this kgsynth (%s); it runs again", key, why)
            os.replace(record, record.with_name(record.name + REFUSED_SUFFIX))
            seal_file.unlink(missing_ok=True)
            refused.append(key)
    return refused


def seal_records(folder: Path, keys: Iterable[str]) -> None:
    """Seal the records these shards just wrote (atomically: a seal is whole or absent)."""
    for key in keys:
        record = folder / key
        if not record.is_file():
            continue
        tmp = record.with_name(f".{record.name}{SEAL_SUFFIX}.part")
        tmp.write_bytes(signature(record.read_bytes()))
        os.replace(tmp, _seal_path(record))


def forget(folder: Path, keys: Iterable[str]) -> None:
    """Drop these shards' records and seals (a shard whose rows must not be reused)."""
    for key in keys:
        (folder / key).unlink(missing_ok=True)
        _seal_path(folder / key).unlink(missing_ok=True)
