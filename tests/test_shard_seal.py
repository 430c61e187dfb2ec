"""Sealed shard results (kgsynth/shard_store.py, kgsynth/signing.py).

Prefect unpickles a persisted result with the serializer its record names, so a record that
someone else put in the result folder would run code. kgsynth admits a record only with a
seal it wrote: anything else is moved aside before Prefect looks, the task runs again, and
nothing in the planted record is unpickled. The control run without the check shows the
planted record does run.
"""

from __future__ import annotations

import pathlib
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from prefect.cache_policies import CacheKeyFnPolicy

from kgsynth import shard_store
from kgsynth.signing import BadSeal, seal, unseal

KEY = "kgsynth-test-shard-key"


class Planted:
    """Unpickling it touches a canary file: what a planted pickle could do instead."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.canary,))


def _run(folder: Path, value: Any, calls: list[int], *, checked: bool = True) -> Any:
    """One cached task around Prefect, as kgsynth.runs runs shards: admit, run, seal."""

    @task(
        cache_policy=CacheKeyFnPolicy(cache_key_fn=lambda *_: KEY),
        persist_result=True,
        result_storage=folder,
        result_serializer="pickle",
    )
    def shard() -> Any:
        calls.append(1)
        return value

    @flow(persist_result=False)
    def one() -> Any:
        return shard()

    if checked:
        shard_store.admit(folder, [KEY])
    before = len(calls)
    out = one()
    if checked and len(calls) > before:
        shard_store.seal_records(folder, [KEY])
    return out


@pytest.fixture(autouse=True)
def _own_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("KGSYNTH_SIGNING_KEY", raising=False)


def test_seal_round_trip_and_refusals(tmp_path: Path) -> None:
    blob = seal(b"payload")
    assert unseal(blob, "x") == b"payload"
    assert (tmp_path / "config" / "kgsynth" / "signing.key").stat().st_mode & 0o777 == 0o600
    for bad in (b"payload", blob[:-1], blob[:-1] + b"X", blob[:25]):
        with pytest.raises(BadSeal):
            unseal(bad, "x")


def test_sealed_records_are_reused_and_damaged_ones_rerun(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    calls: list[int] = []
    assert _run(folder, {"rows": [1, 2]}, calls) == {"rows": [1, 2]}
    assert _run(folder, {"rows": [9]}, calls) == {"rows": [1, 2]}  # cached
    assert len(calls) == 1
    record = folder / KEY
    blob = record.read_bytes()
    record.write_bytes(blob[:-40] + b"x" * 40)  # bytes flipped on disk: still parses?
    assert _run(folder, {"rows": [3]}, calls) == {"rows": [3]}
    assert len(calls) == 2
    assert (folder / f"{KEY}.refused").exists()
    assert _run(folder, {"rows": [4]}, calls) == {"rows": [3]}  # the new record holds


def test_planted_record_is_not_unpickled(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    canary = tmp_path / "canary"
    calls: list[int] = []
    _run(folder, Planted(canary), calls, checked=False)  # plants a record holding the pickle
    canary.unlink(missing_ok=True)
    assert (folder / KEY).exists()
    planted = (folder / KEY).read_bytes()

    # control: Prefect alone unpickles the planted record (the attack works)
    _run(folder, "fresh", calls, checked=False)
    assert canary.exists()
    canary.unlink()

    # a seal written under another key does not help it either
    (folder / f"{KEY}.seal").write_bytes(b"KGSYNTH-HMAC-SHA256\n" + b"0" * 32)
    calls.clear()
    assert _run(folder, "fresh", calls) == "fresh"
    assert calls == [1]
    assert not canary.exists()
    assert (folder / f"{KEY}.refused").read_bytes() == planted
