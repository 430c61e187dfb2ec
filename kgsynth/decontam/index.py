"""A benchmark file's decontamination index: built once per content, KG and settings, cached.

The index holds, per benchmark item, what a row is compared with (kgsynth.decontam.match):
its word n-grams and MinHash shingles less the boilerplate ones (in more than
max(boilerplate_min_items, boilerplate_fraction * items) items: "which of the following is
the most likely diagnosis" would otherwise tie every question to every other), its LSH band
keys, the hash of its whole normalised text and, for the KG method, its answer entities and
present question findings as the build's linker links them.

Cached under <cache_dir>/decontam/<key>/ (one folder per benchmark file), the key hashing
the file's content, the settings that shape the index, the KG's content hash and linking
config (KG method only), polars' version (its string hash) and the code that builds it.
Written in a staged folder with MANIFEST.json last; a damaged entry is discarded with one
warning and built again. Each process keeps the indexes it loaded (kgsynth.resources), so
the shards of a build load each one once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from kgsynth import cache_layout as layout
from kgsynth import manifest
from kgsynth.atomic import staged_folder
from kgsynth.decontam.text import (
    MAX_ROWS,
    Grams,
    Words,
    band_keys,
    normalised,
    signatures,
    text_hashes,
)
from kgsynth.errors import InputError
from kgsynth.qa.dedup import lsh_params
from kgsynth.records import LinkedQA, QARecord

if TYPE_CHECKING:
    from kgsynth.config import DecontamConfig, LinkingConfig
    from kgsynth.kg.graph import KnowledgeGraph

log = logging.getLogger(__name__)

_PACKAGE = Path(__file__).resolve().parents[1]
_TABLES = ("items", "ngrams", "shingles", "boilerplate", "bands", "kg_answers", "kg_present")
_FACTS = "index.json"


@dataclass
class Features:
    """The text features of a batch of rows (row = position in the batch)."""

    n_rows: int
    ngrams: Grams  # distinct word n-grams of each row
    shingles: Grams  # distinct MinHash shingles of each row
    text: np.ndarray  # uint64: one hash of each row's whole normalised text


def features(texts: pl.Series, s: DecontamConfig) -> Features:
    w = Words(texts)
    return Features(
        n_rows=len(texts),
        ngrams=w.windows(s.ngram, short=False),  # a row shorter than n has no n-gram
        shingles=w.windows(s.shingle, short=True),
        text=text_hashes(texts),
    )


def pair_keys(items: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """(item, 40-bit hash) in one uint64: the item number above the hash."""
    return (items.astype(np.uint64) << np.uint64(40)) | hashes.astype(np.uint64)


def lsh_shape(s: DecontamConfig) -> tuple[int, int]:
    """(bands, rows per band) of the LSH, as dedup chooses them (recall 0.99 at the
    threshold)."""
    return lsh_params(s.minhash_threshold, s.num_perm)


def present_ids(item: LinkedQA) -> list[str]:
    """The question's findings the patient has (negated, family, ... ones do not count)."""
    return sorted({e.kg_id for e in item.question_entities if e.assertion == "present"})


def answer_ids(item: LinkedQA) -> list[str]:
    return sorted({e.kg_id for e in item.answer_entities})


@dataclass
class BenchmarkIndex:
    file: str  # the file as the user named it
    content_hash: str  # sha256 of its bytes
    items: pl.DataFrame  # item, id, n_ngrams (all), n_shingles (boilerplate left out), text
    ngrams: pl.DataFrame  # h, item (boilerplate left out)
    shingles: pl.DataFrame  # h, item (boilerplate left out)
    boilerplate: pl.DataFrame  # kind ("ngram" | "shingle"), h
    bands: pl.DataFrame  # key (of a band), item
    kg_answers: pl.DataFrame | None = None  # item, kg_id (None: indexed without the KG)
    kg_present: pl.DataFrame | None = None  # item, kg_id
    facts: dict[str, Any] = field(default_factory=dict)
    source: Literal["cached", "built"] = "built"
    _shingle_keys: pl.Series | None = field(default=None, repr=False)

    @property
    def n_items(self) -> int:
        return self.items.height

    def boiler(self, kind: str) -> pl.Series:
        return self.boilerplate.filter(pl.col("kind") == kind)["h"]

    def shingle_keys(self) -> pl.Series:
        """One uint64 per (item, shingle) of the index, for membership tests (made once)."""
        if self._shingle_keys is None:
            items, hashes = self.shingles["item"].to_numpy(), self.shingles["h"].to_numpy()
            self._shingle_keys = pl.Series("k", pair_keys(items, hashes))
        return self._shingle_keys

    def id_of(self, items: np.ndarray) -> pl.Series:
        return self.items["id"].gather(items).alias("item_id")  # item = its position


def build_index(
    file: str,
    content_hash: str,
    records: list[QARecord],
    linked: list[LinkedQA] | None,
    s: DecontamConfig,
) -> BenchmarkIndex:
    """The index of these benchmark items (`linked`: the same items linked, for the KG
    method, or None)."""
    t0 = time.perf_counter()
    n = len(records)
    if n >= MAX_ROWS:
        raise InputError(file, f"benchmark file holds {n} items, more than {MAX_ROWS - 1}")
    f = features(normalised(records), s)
    limit = max(s.boilerplate_min_items, s.boilerplate_fraction * n)

    def common(g: Grams) -> pl.DataFrame:
        frame = g.frame().group_by("h").len().filter(pl.col("len") > limit)
        return frame.select("h").sort("h")

    def less(g: Grams, boiler: pl.DataFrame) -> pl.DataFrame:
        return g.frame().join(boiler, on="h", how="anti").rename({"row": "item"})

    b_ngrams, b_shingles = common(f.ngrams), common(f.shingles)
    ngrams, shingles = less(f.ngrams, b_ngrams), less(f.shingles, b_shingles)
    bands, rows = lsh_shape(s)
    kept = Grams(shingles["item"].to_numpy(), shingles["h"].to_numpy())
    key_rows, keys = band_keys(signatures(kept, n, s.num_perm, s.seed), bands, rows)
    items = pl.DataFrame(
        {
            "item": np.arange(n, dtype=np.int64),
            "id": [r.id for r in records],
            "n_ngrams": f.ngrams.counts(n),
            "n_shingles": kept.counts(n),
            "text": f.text,
        },
        schema={
            "item": pl.Int64,
            "id": pl.String,
            "n_ngrams": pl.Int64,
            "n_shingles": pl.Int64,
            "text": pl.UInt64,
        },
    )
    boilerplate = pl.concat(
        [
            b_ngrams.select(pl.lit("ngram").alias("kind"), "h"),
            b_shingles.select(pl.lit("shingle").alias("kind"), "h"),
        ]
    )
    idx = BenchmarkIndex(
        file=file,
        content_hash=content_hash,
        items=items,
        ngrams=ngrams.select("h", "item").sort("h", "item"),
        shingles=shingles.select("h", "item").sort("item", "h"),
        boilerplate=boilerplate,
        bands=pl.DataFrame({"key": keys, "item": key_rows}).sort("key"),
    )
    if linked is not None:
        idx.kg_answers = _explode([answer_ids(i) for i in linked])
        idx.kg_present = _explode([present_ids(i) for i in linked])
    idx.facts = {
        "items": n,
        "boilerplate_limit": limit,
        "boilerplate_ngrams": b_ngrams.height,
        "boilerplate_shingles": b_shingles.height,
        "kg_items": (
            None
            if linked is None
            else sum(bool(answer_ids(i)) and bool(present_ids(i)) for i in linked)
        ),
        "build_s": round(time.perf_counter() - t0, 3),
    }
    return idx


def _explode(ids: list[list[str]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"item": np.arange(len(ids), dtype=np.int64), "kg_id": ids},
        schema={"item": pl.Int64, "kg_id": pl.List(pl.String)},
    )
    return frame.explode("kg_id").drop_nulls("kg_id").unique().sort("item", "kg_id")


# -- reading a benchmark file -------------------------------------------------------------------


def read_benchmark(path: Path) -> list[QARecord]:
    """Every item of a benchmark file (any QA layout kgsynth reads). A benchmark is read
    whole or not at all: a row that cannot be read is an error naming its line."""
    from kgsynth.qa import read_qa

    batch = read_qa([path])
    if batch.rejects:
        r = batch.rejects[0]
        detail = r.detail.removeprefix(f"{path}, line {r.line}: ")
        more = f" (and {len(batch.rejects) - 1} more rows)" if len(batch.rejects) > 1 else ""
        raise InputError(
            str(path), f"benchmark row not readable: {r.reason}: {detail}{more}", line=r.line
        )
    if not batch.records:
        raise InputError(str(path), "benchmark file holds no QA items")
    return batch.records


# -- the cache ----------------------------------------------------------------------------------


@cache
def _code_version(with_kg: bool) -> str:
    """A hash of the code an index depends on: this package, the QA readers and, for the
    KG part, the linker (with its data files)."""
    h = hashlib.sha256()
    folders = ["decontam", "qa", *(["linking"] if with_kg else [])]
    for folder in folders:
        for p in sorted((_PACKAGE / folder).rglob("*")):
            if p.is_file() and p.suffix in {".py", ".toml", ".txt", ".json"}:
                h.update(p.relative_to(_PACKAGE).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def benchmark_fingerprint(s: DecontamConfig) -> str:
    """What the benchmark files of a run hold, in one hash ("" when the stage does not run):
    a config names the files, and a result cached under the config alone would outlive an
    edit of one of them (kgsynth.runs.shard_key can add this)."""
    if not s.active:
        return ""
    h = hashlib.sha256()
    for path in s.against:
        h.update(str(path).encode() + b"\0")
        h.update(manifest.file_hash(path).encode() if path.is_file() else b"missing")
    return h.hexdigest()


def index_key(
    content_hash: str, s: DecontamConfig, kg_hash: str | None, linking: LinkingConfig | None
) -> str:
    """What decides an index: the file's content, its settings, the KG and linking (KG
    method only), polars' version and the code."""
    shape = s.model_dump(
        include={
            "ngram",
            "shingle",
            "num_perm",
            "seed",
            "minhash_threshold",
            "boilerplate_fraction",
            "boilerplate_min_items",
        }
    )
    parts = [
        layout.DECONTAM_VERSION,
        _code_version(kg_hash is not None),
        pl.__version__,
        content_hash,
        json.dumps(shape, sort_keys=True),
        kg_hash or "",
        linking.model_dump_json() if kg_hash is not None and linking is not None else "",
    ]
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def save_index(idx: BenchmarkIndex, folder: Path, about: dict[str, str]) -> None:
    """Publish the index at `folder` (staged, manifest last); a folder already there stays."""
    with staged_folder(folder) as tmp:
        for name in _TABLES:
            frame = getattr(idx, name)
            if frame is not None:
                frame.write_parquet(tmp / f"{name}.parquet")
        facts = {"content_hash": idx.content_hash, **idx.facts}
        (tmp / _FACTS).write_text(json.dumps(facts, indent=1))
        manifest.write(tmp, layout.DECONTAM, layout.DECONTAM_VERSION, about)


def read_index(folder: Path, file: str) -> BenchmarkIndex:
    tables = {
        name: pl.read_parquet(folder / f"{name}.parquet")
        for name in _TABLES
        if (folder / f"{name}.parquet").is_file()
    }
    facts = json.loads((folder / _FACTS).read_text())
    return BenchmarkIndex(
        file=file,
        content_hash=facts.pop("content_hash"),
        facts=facts,
        source="cached",
        **tables,
    )


def load_index(
    path: Path,
    s: DecontamConfig,
    cache_dir: Path,
    kg: KnowledgeGraph | None = None,
    linking: LinkingConfig | None = None,
) -> BenchmarkIndex:
    """The index of benchmark file `path`, from this process, the cache or built (and
    cached). With `kg` (and `linking`), its items are linked for the KG method."""
    from kgsynth import resources

    if not path.is_file():
        raise InputError(str(path), "benchmark file not found")
    content = manifest.file_hash(path)
    kg_hash = kg.hash if kg is not None else None
    key = index_key(content, s, kg_hash, linking)

    def load() -> BenchmarkIndex:
        return _load_or_build(path, content, key, s, cache_dir, kg, linking)

    idx = resources.per_process("decontam", key, load)
    return idx if idx.file == str(path) else _renamed(idx, str(path))


def _renamed(idx: BenchmarkIndex, file: str) -> BenchmarkIndex:
    # the same content named by another path: the same index under that name
    from dataclasses import replace

    return replace(idx, file=file)


def _load_or_build(
    path: Path,
    content: str,
    key: str,
    s: DecontamConfig,
    cache_dir: Path,
    kg: KnowledgeGraph | None,
    linking: LinkingConfig | None,
) -> BenchmarkIndex:
    folder = layout.decontam_folder(cache_dir, key)
    cached = manifest.load_checked(
        folder,
        layout.DECONTAM,
        layout.DECONTAM_VERSION,
        "decontamination index",
        lambda f: read_index(f, str(path)),
    )
    if cached is not None:
        return cached
    records = read_benchmark(path)
    linked = None
    if kg is not None:
        from kgsynth import resources
        from kgsynth.config import LinkingConfig

        linker = resources.worker_linker(kg, linking or LinkingConfig(), cache_dir)
        t0 = time.perf_counter()
        linked = [linker(r) for r in records]
        link_s = time.perf_counter() - t0
        log.info("linked %d benchmark items in %.1fs", len(records), link_s)
    idx = build_index(str(path), content, records, linked, s)
    if linked is not None:
        idx.facts["link_s"] = round(link_s, 3)
    try:
        save_index(idx, folder, {"file": str(path), "kg": kg.hash if kg is not None else ""})
    except OSError as e:  # a read-only cache: the index still serves this run
        log.warning("decontamination index not cached at %s (%s)", folder, e)
    return idx
