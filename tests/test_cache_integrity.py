"""Caches check themselves (issue 17): each kind, damaged as a full disk or a hand edit would
damage it, is discarded with one warning naming it and built again; the next build exports
the same rows as an undamaged one, and nothing is fetched from the network.

Kinds: the KG graph, the alias table, the alias index (linker), the shard results (Prefect
records under seals) and the LLM response cache (SQLite). Damages: a file cut short, a
file deleted, bytes flipped in place (same size: only a content hash tells).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from build_digest import dataset_digest
from llm_server import LLMServer, use_key
from typer.testing import CliRunner

from kgsynth import cache_layout as layout
from kgsynth import manifest, shard_store
from kgsynth.cli import app
from kgsynth.config import load_config
from kgsynth.kg import cache as kg_cache
from kgsynth.llm.cache import CachedResponse, ResponseCache, cache_path, row_digest

DAMAGES = ("truncate", "delete", "flip")


def damage(path: Path, how: str) -> None:
    blob = path.read_bytes()
    if how == "truncate":
        path.write_bytes(blob[: len(blob) // 3])
    elif how == "delete":
        path.unlink()
    else:  # flip bytes in the middle, size unchanged
        mid = len(blob) // 2
        path.write_bytes(
            blob[:mid] + bytes(b ^ 0xFF for b in blob[mid : mid + 8]) + blob[mid + 8 :]
        )
    assert not path.exists() or path.read_bytes() != blob


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- the manifest ----------------------------------------------------------------------------


def test_manifest_names_each_kind_of_damage(tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "a.bin").write_bytes(b"x" * 1000)
    (entry / "b.json").write_text('{"k": 1}')
    manifest.write(entry, "kg", "kg-v1", about={"kg": "abc"})
    assert manifest.problem(entry, "kg", "kg-v1") is None
    assert "linker kg-v1" in str(manifest.problem(entry, "linker", "kg-v1"))
    assert "kg-v0" in str(manifest.problem(entry, "kg", "kg-v0"))
    (entry / "a.bin").write_bytes(b"x" * 999 + b"y")  # same size
    assert manifest.problem(entry, "kg", "kg-v1") == "a.bin does not match its hash in the manifest"
    (entry / "a.bin").write_bytes(b"x" * 10)
    assert manifest.problem(entry, "kg", "kg-v1") == "a.bin is 10 bytes, the manifest says 1000"
    (entry / "a.bin").unlink()
    assert manifest.problem(entry, "kg", "kg-v1") == "a.bin is missing"
    (entry / manifest.MANIFEST).write_text("{not json")
    assert "unreadable" in str(manifest.problem(entry, "kg", "kg-v1"))
    (entry / manifest.MANIFEST).unlink()
    assert "no MANIFEST.json" in str(manifest.problem(entry, "kg", "kg-v1"))


def test_big_files_are_size_checked_on_load_and_hashed_on_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "big.bin").write_bytes(b"\0" * 4096)
    manifest.write(entry, "kg", "kg-v1")
    (entry / "big.bin").write_bytes(b"\1" + b"\0" * 4095)
    monkeypatch.setattr(manifest, "HASH_ON_LOAD_MAX", 1024)
    assert manifest.problem(entry, "kg", "kg-v1") is None
    assert "hash" in str(manifest.problem(entry, "kg", "kg-v1", full=True))


# -- each kind on its own --------------------------------------------------------------------


@pytest.mark.parametrize("how", DAMAGES)
def test_kg_cache_entry_is_discarded_and_rebuilt(
    how: str, hpo_kg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pointer = tmp_path / "kg" / "sources" / "hpo-test.json"
    kg_cache.save_source(hpo_kg, pointer, [])
    folder = kg_cache.graph_folder(tmp_path, hpo_kg.hash)
    target = {"truncate": "indices.npy", "delete": "nodes.parquet", "flip": "edge_rel.npy"}
    damage(folder / target[how], how)
    with caplog.at_level(logging.WARNING):
        assert kg_cache.load_source(pointer) is None  # the caller builds it again
    (line,) = warnings(caplog)
    assert str(folder) in line and target[how] in line
    assert not folder.exists()
    kg_cache.save_source(hpo_kg, pointer, [])
    again = kg_cache.load_source(pointer)
    assert again is not None and again.hash == hpo_kg.hash
    assert (again.indices == hpo_kg.indices).all() and again.nodes.equals(hpo_kg.nodes)


def test_kg_cache_pointer_cut_short_warns_and_rebuilds(
    hpo_kg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pointer = tmp_path / "kg" / "sources" / "hpo-test.json"
    kg_cache.save_source(hpo_kg, pointer, [])
    damage(pointer, "truncate")
    with caplog.at_level(logging.WARNING):
        assert kg_cache.load_source(pointer) is None
    (line,) = warnings(caplog)
    assert str(pointer) in line and not pointer.exists()


def test_llm_cache_cut_short_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = cache_path(tmp_path)
    cache = ResponseCache(path)
    for i in range(300):
        cache.put(f"k{i}", CachedResponse(f"reply {i} " * 20, "m", 1, 2))
    cache.close()
    damage(path, "truncate")
    with caplog.at_level(logging.WARNING):
        fresh = ResponseCache(path)
    (line,) = warnings(caplog)
    assert str(path) in line and "moved to responses.sqlite.damaged-" in line
    assert len(fresh) == 0 and fresh.get("k1") is None
    fresh.put("k1", CachedResponse("new", "m", 1, 1))
    assert fresh.get("k1") == CachedResponse("new", "m", 1, 1)
    fresh.close()
    assert [p.name.startswith("responses.sqlite.damaged-") for p in path.parent.iterdir()].count(
        True
    ) == 1


def test_llm_cache_flipped_reply_is_dropped_and_asked_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = cache_path(tmp_path)
    cache = ResponseCache(path)
    cache.put("good", CachedResponse("The answer is B.", "m", 3, 4, "r1"))
    cache.put("bad", CachedResponse("Reasoning: marfan syndrome.", "m", 3, 4, "r2"))
    cache.close()
    blob = path.read_bytes()
    assert blob.count(b"marfan") == 1
    path.write_bytes(blob.replace(b"marfan", b"marfam"))  # SQLite's structure is intact
    with caplog.at_level(logging.WARNING):
        again = ResponseCache(path)
        got = again.get_many(["good", "bad"])
    assert list(got) == ["good"] and again.dropped == 1
    (line,) = warnings(caplog)
    assert "1 stored reply no longer match" in line
    assert again.get("bad") is None  # dropped, not kept for a later build to trip on
    again.close()


def test_llm_cache_of_an_older_kgsynth_gets_digests(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL,"
        " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, response_id TEXT,"
        " step TEXT, created_at REAL NOT NULL)"
    )
    db.execute("INSERT INTO responses VALUES ('k', 'm', 'old reply', 1, 2, NULL, '', 0)")
    db.commit()
    db.close()
    cache = ResponseCache(path)
    assert cache.get("k") == CachedResponse("old reply", "m", 1, 2, None)
    cache.close()
    (digest,) = sqlite3.connect(path).execute("SELECT digest FROM responses").fetchone()
    assert digest == row_digest("k", "m", "old reply", 1, 2, None)


def test_shard_record_deleted_under_its_seal_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record = tmp_path / "kgsynth-shard-abc"
    record.write_bytes(b"payload")
    shard_store.seal_records(tmp_path, [record.name])
    assert shard_store.problem(record) is None
    record.unlink()
    assert shard_store.problem(record) == "record missing"
    with caplog.at_level(logging.WARNING):
        assert shard_store.admit(tmp_path, [record.name]) == []
    (line,) = warnings(caplog)
    assert "kgsynth-shard-abc is missing" in line
    assert list(tmp_path.iterdir()) == []


# -- whole builds: the next build exports the same rows --------------------------------------


def _offline_cfg(cache: Path, out: Path) -> Any:
    return load_config(None, {"cache_dir": cache, "out": out, "run": {"cache_results": True}})


def _build(cfg: Any) -> dict[str, Any]:
    from flows.build import build_dataset

    build_dataset(cfg)
    return dataset_digest(cfg.out)


@pytest.fixture(scope="module")
def warm_cache(cache_dir: Path, hpo_kg, tmp_path_factory: pytest.TempPathFactory):
    """A cache folder after one sample build (KG, aliases, index, shard results), and the
    digest of that build."""
    root = tmp_path_factory.mktemp("warm")
    cache = root / "cache"
    for kind in ("kg", "aliases", "linker"):
        if (cache_dir / kind).is_dir():
            shutil.copytree(cache_dir / kind, cache / kind)
    digest = _build(_offline_cfg(cache, root / "out"))
    return cache, digest


def _one(folder: Path, pattern: str) -> Path:
    (found,) = sorted(folder.glob(pattern))
    return found


@pytest.mark.parametrize("how", DAMAGES)
def test_next_build_after_damage_to_every_offline_cache(
    how: str,
    warm_cache: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    no_network: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    base, want = warm_cache
    cache = tmp_path / "cache"
    shutil.copytree(base, cache)
    graph = _one(layout.kg_graphs(cache), "*")
    aliases = _one(layout.alias_root(cache), "*")
    index = _one(layout.linker_root(cache), f"*-{layout.INDEX_VERSION}")
    (record,) = [p for p in layout.shard_root(cache).iterdir() if "." not in p.name]
    targets = {
        "truncate": [
            graph / "indices.npy",
            aliases / "aliases.parquet",
            index / "tfidf_vectors_sparse.npz",
            record,
        ],
        "delete": [
            graph / "nodes.parquet",
            aliases / "aliases.parquet",
            index / "tfidf_vectorizer.json",
            record,
        ],
        "flip": [
            graph / "edge_rel.npy",
            aliases / "aliases.parquet",
            index / "concept_aliases.json",
            record,
        ],
    }[how]
    for path in targets:
        damage(path, how)
    with caplog.at_level(logging.WARNING):
        got = _build(_offline_cfg(cache, tmp_path / "out"))
    assert got == want
    said = warnings(caplog)
    for what, folder in (
        ("KG cache entry", graph),
        ("alias table", aliases),
        ("alias index", index),
    ):
        assert [s for s in said if s.startswith(f"{what} {folder} is damaged")], (what, said)
    assert [s for s in said if s.startswith(f"shard cache: {record.name}")], said
    assert no_network == []
    # and the cache stands whole again: a third build reads it all without a warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert _build(_offline_cfg(cache, tmp_path / "again")) == want
    assert not [s for s in warnings(caplog) if "damaged" in s or "shard cache" in s]


KEY_ENV = "KGSYNTH_TEST_CACHE_KEY"


@pytest.fixture
def llm_server(monkeypatch: pytest.MonkeyPatch):
    use_key(monkeypatch, KEY_ENV, "sk-cache-test")
    with LLMServer(api_key="sk-cache-test") as srv:
        yield srv


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_next_llm_build_after_damage_to_the_response_cache(
    how: str,
    warm_cache: tuple[Path, dict[str, Any]],
    llm_server: LLMServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base, _ = warm_cache
    cache = tmp_path / "cache"
    shutil.copytree(base, cache, ignore=shutil.ignore_patterns("prefect-results"))

    def cfg(out: str) -> Any:
        return load_config(
            None,
            {
                "cache_dir": cache,
                "out": tmp_path / out,
                "limit": 8,
                "generator": "openai",
                "llm": {
                    "base_url": llm_server.base_url,
                    "model": f"cache-{uuid.uuid4().hex[:6]}",
                    "api_key_env": KEY_ENV,
                    "json_mode": "json_schema",
                    "max_retries": 0,
                },
                "verify": {"claims": {"enabled": False}},
                "run": {"cache_results": False},
            },
        )

    first = cfg("first")
    want = _build(first)
    sent = llm_server.stats()["chat_requests"]
    assert sent > 0
    db = cache_path(cache)
    if how == "truncate":
        damage(db, "truncate")
    else:
        texts = [t for (t,) in sqlite3.connect(db).execute("SELECT text FROM responses")]
        blob = db.read_bytes()
        # 16 bytes of one reply that occur nowhere else in the file: its row alone changes
        raw = next(
            w
            for w in (t.encode()[i : i + 16] for t in texts for i in range(0, len(t) - 16, 4))
            if w.isascii() and blob.count(w) == 1 and w[::-1] != w
        )
        db.write_bytes(blob.replace(raw, raw[::-1]))
    again = first.model_copy(update={"out": tmp_path / "second"})
    with caplog.at_level(logging.WARNING):
        assert _build(again) == want
    said = [s for s in warnings(caplog) if s.startswith("LLM response cache")]
    assert len(said) == 1, warnings(caplog)
    asked = llm_server.stats()["chat_requests"] - sent
    assert (asked == sent) if how == "truncate" else (asked == 1)


# -- kgsynth cache ---------------------------------------------------------------------------


def test_cache_command_info_verify_clear(warm_cache: tuple[Path, dict[str, Any]], tmp_path: Path):
    base, _ = warm_cache
    cache = tmp_path / "cache"
    shutil.copytree(base, cache)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, ["cache", *args, "--cache-dir", str(cache)])

    info = run("info")
    assert info.exit_code == 0, info.output
    assert "kg " in info.output and "hpo" in info.output
    ok = run("verify")
    assert ok.exit_code == 0 and "0 damaged" in ok.output, ok.output
    index = _one(layout.linker_root(cache), f"*-{layout.INDEX_VERSION}")
    damage(index / "tfidf_vectors_sparse.npz", "flip")  # same size: only verify's hash finds it
    bad = run("verify")
    assert bad.exit_code == 1 and "1 damaged" in bad.output and "tfidf_vectors" in bad.output
    fixed = run("verify", "--discard")
    assert fixed.exit_code == 0 and not index.exists()
    refused = run("clear", "--kg", "no-such-kg", "--yes")
    assert refused.exit_code == 2 and "no-such-kg" in refused.output
    asked = runner.invoke(
        app, ["cache", "clear", "--kind", "kg", "--cache-dir", str(cache)], input="n\n"
    )
    assert asked.exit_code == 1 and any(layout.kg_graphs(cache).iterdir())
    gone = run("clear", "--kg", "hpo", "--yes")
    assert gone.exit_code == 0, gone.output
    assert not any(layout.kg_graphs(cache).iterdir())
    assert not any(layout.alias_root(cache).iterdir())
    assert not list(layout.kg_sources(cache).glob("*.json"))
    assert any(layout.shard_root(cache).iterdir())  # not made from a KG it can name
    shards = run("clear", "--kind", "shards", "--yes")
    assert shards.exit_code == 0 and not any(layout.shard_root(cache).iterdir())
