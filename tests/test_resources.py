"""Per-process resources (kgsynth/resources.py): one load per key, however many callers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kgsynth import resources
from kgsynth.errors import KGSynthError


def test_one_load_per_key_even_when_threads_race():
    calls: list[int] = []

    def slow() -> object:
        calls.append(1)
        time.sleep(0.2)
        return object()

    got: list[object] = []
    threads = [
        threading.Thread(target=lambda: got.append(resources.per_process("t-race", 1, slow)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(g) for g in got}) == 1
    assert resources.per_process("t-race", 2, object) is not got[0]  # another key, another load
    assert resources.stats()["loads"]["t-race"] == 2


def test_the_flows_kg_is_shared_and_a_changed_kg_is_refused(hpo_kg, cache_dir: Path):
    # the flow registers the KG it loaded; shards in this process get that very object
    assert resources.share_kg("hpo", cache_dir, hpo_kg) is resources.worker_kg(
        "hpo", cache_dir, hpo_kg.hash
    )
    # a worker that finds other content on disk than the flow started with stops the build
    with pytest.raises(KGSynthError, match="changed during the build"):
        resources.worker_kg("hpo", cache_dir, "0" * 64)
