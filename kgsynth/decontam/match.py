"""Candidate rows against benchmark indexes: which rows overlap which item, by which method.

All three methods are joins and sorts over whole columns, chunk by chunk (no per-row
Python):
- ngram: the row's distinct word n-grams joined with the index's (boilerplate is not in
  it); score = n-grams shared with the best item / the row's n-grams (boilerplate included);
- minhash: the row's shingles less the index's boilerplate -> one-permutation MinHash ->
  LSH band keys joined with the index's; each row's items with the most colliding bands are
  confirmed by their exact Jaccard, best first, up to `minhash_confirm` of them; the same
  normalised text (a join on its hash) scores 1.0;
- kg: the row's answer entities joined with the items' -> pairs sharing an answer; their
  present question findings joined -> shared count; flagged when it reaches
  min(kg_min_shared, the row's present findings) (a KG-first question states one).
Each method names at most one item per row and benchmark (best score, then first item);
`verdicts` picks the flag a row's reject names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from kgsynth.config import DecontamConfig
from kgsynth.decontam.index import (
    BenchmarkIndex,
    Features,
    answer_ids,
    features,
    lsh_shape,
    pair_keys,
    present_ids,
)
from kgsynth.decontam.text import Grams, band_keys, normalised, signatures
from kgsynth.records import LinkedQA, QARecord

METHODS = ("ngram", "minhash", "kg")  # the order a reject prefers: verbatim text first
CHUNK_ROWS = 25_000  # rows whose features are in memory at once

FLAG_SCHEMA = {
    "row": pl.Int64,
    "file": pl.String,
    "item_id": pl.String,
    "method": pl.String,
    "score": pl.Float64,
    "shared": pl.Int64,  # n-grams, shingles or present findings shared with the item
    "of": pl.Int64,  # ... of the row's (minhash: of the union; null for the same text)
}


@dataclass
class Candidates:
    """Rows to check: normalised text (question + sorted options) and, for the KG method,
    present question findings and answer entities (KG ids)."""

    texts: pl.Series
    present: list[list[str]]
    answers: list[list[str]]

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def from_linked(cls, items: Sequence[LinkedQA]) -> Candidates:
        return cls(
            texts=normalised([i.qa for i in items]),
            present=[present_ids(i) for i in items],
            answers=[answer_ids(i) for i in items],
        )

    @classmethod
    def from_records(
        cls,
        records: Sequence[QARecord],
        present: list[list[str]] | None = None,
        answers: list[list[str]] | None = None,
    ) -> Candidates:
        empty: list[list[str]] = [[] for _ in records]
        return cls(
            texts=normalised(records),
            present=present if present is not None else empty,
            answers=answers if answers is not None else empty,
        )

    def chunk(self, start: int, stop: int) -> Candidates:
        return Candidates(
            self.texts[start:stop], self.present[start:stop], self.answers[start:stop]
        )


@dataclass
class Found:
    """One method's best item per flagged row (positions in the chunk and the index)."""

    row: np.ndarray
    item: np.ndarray
    score: np.ndarray
    shared: np.ndarray
    of: np.ndarray

    @classmethod
    def best(
        cls,
        row: np.ndarray,
        item: np.ndarray,
        score: np.ndarray,
        shared: np.ndarray,
        of: np.ndarray,
    ) -> Found:
        """Per row, the highest score (then the first item)."""
        order = np.lexsort((item, -score, row))
        row = row[order]
        first = np.ones(len(row), dtype=bool)
        first[1:] = row[1:] != row[:-1]
        pick = order[first]
        return cls(row[first], item[pick], score[pick], shared[pick], of[pick])


def check(
    cands: Candidates,
    indexes: Sequence[BenchmarkIndex],
    s: DecontamConfig,
    chunk_rows: int = CHUNK_ROWS,
) -> pl.DataFrame:
    """Every (row, benchmark, method) that flags, with the best item (FLAG_SCHEMA)."""
    out = [pl.DataFrame(schema=FLAG_SCHEMA)]
    for start in range(0, len(cands), chunk_rows):
        part = cands.chunk(start, start + chunk_rows)
        feats = features(part.texts, s) if {"ngram", "minhash"} & set(s.methods) else None
        for idx in indexes:
            for method in s.methods:
                if method == "ngram" and feats is not None:
                    found = ngram_flags(feats, idx, s)
                elif method == "minhash" and feats is not None:
                    found = minhash_flags(feats, idx, s)
                elif method == "kg" and idx.kg_answers is not None:
                    found = kg_flags(part, idx, s)
                else:
                    continue
                out.append(_frame(found, idx, method, start))
    return pl.concat(out)


def _frame(found: Found, idx: BenchmarkIndex, method: str, offset: int) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "row": found.row + offset,
            "file": pl.Series([idx.file] * len(found.row), dtype=pl.String),
            "item_id": idx.id_of(found.item),
            "method": pl.Series([method] * len(found.row), dtype=pl.String),
            "score": found.score,
            "shared": found.shared,
            "of": found.of,
        },
        schema=FLAG_SCHEMA,
    )
    counts = pl.col("shared", "of")
    return frame.with_columns(pl.when(counts >= 0).then(counts))


def _pairs(row: np.ndarray, item: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (row, item) pairs of a join's output and how often each occurs."""
    packed, count = np.unique(
        (row.astype(np.uint64) << np.uint64(32)) | item.astype(np.uint64), return_counts=True
    )
    return (packed >> np.uint64(32)).astype(np.int64), (packed & 0xFFFFFFFF).astype(np.int64), count


def ngram_flags(f: Features, idx: BenchmarkIndex, s: DecontamConfig) -> Found:
    hit = f.ngrams.frame().join(idx.ngrams, on="h")
    row, item, shared = _pairs(hit["row"].to_numpy(), hit["item"].to_numpy())
    of = f.ngrams.counts(f.n_rows)[row]
    score = shared / np.maximum(of, 1)
    keep = score >= s.ngram_min_share
    return Found.best(row[keep], item[keep], score[keep], shared[keep], of[keep])


def minhash_flags(f: Features, idx: BenchmarkIndex, s: DecontamConfig) -> Found:
    boiler = pl.Series(f.shingles.h).is_in(idx.boiler("shingle").implode()).to_numpy()
    sh = f.shingles.subset(~boiler)
    na = sh.counts(f.n_rows)
    bands, rows = lsh_shape(s)
    key_rows, keys = band_keys(signatures(sh, f.n_rows, s.num_perm, s.seed), bands, rows)
    hit = pl.DataFrame({"row": key_rows, "key": keys}).join(idx.bands, on="key")
    row, item, hits = _pairs(hit["row"].to_numpy(), hit["item"].to_numpy())
    # rank each row's candidates: most colliding bands first, then the first item
    order = np.lexsort((item, -hits, row))
    row, item = row[order], item[order]
    starts = np.searchsorted(row, row, side="left")
    rank = np.arange(len(row)) - starts
    done = np.zeros(f.n_rows, dtype=bool)
    found: list[tuple[np.ndarray, ...]] = []
    for r in range(s.minhash_confirm):
        # each row's best candidate first; the next one only for rows still unconfirmed
        todo = (rank == r) & ~done[row]
        if not todo.any():
            break
        got = _confirm(row[todo], item[todo], sh, na, idx, s, f.n_rows)
        done[got[0]] = True
        found.append(got)
    text = pl.DataFrame(
        {"row": np.arange(f.n_rows, dtype=np.int64), "text": f.text},
        schema={"row": pl.Int64, "text": pl.UInt64},
    ).join(idx.items.select("item", "text"), on="text")
    same = text["row"].to_numpy()
    found.append(
        (
            same,
            text["item"].to_numpy(),
            np.ones(len(same)),
            np.full(len(same), -1),
            np.full(len(same), -1),
        )
    )
    # an exact copy has no shingle counts to show (-1: null in the flags)
    return Found.best(*(np.concatenate(c) for c in zip(*found, strict=True)))


def _confirm(
    row: np.ndarray,
    item: np.ndarray,
    sh: Grams,
    na: np.ndarray,
    idx: BenchmarkIndex,
    s: DecontamConfig,
    n_rows: int,
) -> tuple[np.ndarray, ...]:
    """The pairs (row, item) whose exact shingle Jaccard reaches the threshold: every
    shingle of the pair's row looked up, by one (item, shingle) key, among the item's."""
    reps = na[row]
    pair = np.repeat(np.arange(len(row)), reps)
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(reps) - reps, reps)
    where = sh.starts(n_rows)[row][pair] + offset
    keys = pair_keys(item[pair], sh.h[where])
    member = pl.Series(keys).is_in(idx.shingle_keys().implode()).to_numpy()
    shared = np.bincount(pair[member], minlength=len(row))
    nb = idx.items["n_shingles"].to_numpy()[item]
    union = na[row] + nb - shared
    score = shared / np.maximum(union, 1)
    keep = (score >= s.minhash_threshold) & (shared > 0)
    return row[keep], item[keep], score[keep], shared[keep], union[keep]


def kg_flags(c: Candidates, idx: BenchmarkIndex, s: DecontamConfig) -> Found:
    assert idx.kg_answers is not None and idx.kg_present is not None
    n = len(c)
    schema = {"row": pl.Int64, "kg_id": pl.List(pl.String)}
    rows = np.arange(n, dtype=np.int64)
    answers = pl.DataFrame({"row": rows, "kg_id": c.answers}, schema=schema).explode("kg_id")
    present = (
        pl.DataFrame({"row": rows, "kg_id": c.present}, schema=schema)
        .explode("kg_id")
        .drop_nulls("kg_id")
        .unique()
    )
    of = present.group_by("row").len("of")
    pairs = answers.join(idx.kg_answers, on="kg_id").select("row", "item").unique()
    shared = (
        pairs.join(present, on="row")
        .join(idx.kg_present, on=["item", "kg_id"])
        .group_by("row", "item")
        .len("shared")
        .join(of, on="row")
        .filter(pl.col("shared") >= pl.min_horizontal(pl.lit(s.kg_min_shared), pl.col("of")))
    )
    k_shared, k_of = shared["shared"].to_numpy(), shared["of"].to_numpy()
    return Found.best(
        shared["row"].to_numpy(),
        shared["item"].to_numpy(),
        k_shared / np.maximum(k_of, 1),
        k_shared,
        k_of,
    )


@dataclass(frozen=True)
class Contamination:
    """Why one row leaves: the flag its reject names and a detail listing all its flags."""

    row: int
    method: str
    file: str
    item_id: str
    score: float
    detail: str


def describe(flag: dict[str, Any], s: DecontamConfig) -> str:
    """One flag in words: method, score and what it counted."""
    method, score, shared, of = flag["method"], flag["score"], flag["shared"], flag["of"]
    if method == "ngram":
        what = f"{shared} of its {of} word {s.ngram}-grams"
    elif method == "minhash":
        what = (
            "the same normalised question and options"
            if shared is None
            else f"Jaccard of {s.shingle}-word shingles, {shared} shared of {of}"
        )
    else:
        what = f"the same answer entity and {shared} of its {of} present findings"
    return f"{method} {score:.3f} ({what})"


def verdicts(
    flags: pl.DataFrame, files: Sequence[str], s: DecontamConfig
) -> dict[int, Contamination]:
    """Row -> the flag its reject names: the first method in METHODS order, then the first
    benchmark in `files` order; the detail lists every flag of the row."""
    if flags.is_empty():
        return {}
    method_rank = {m: i for i, m in enumerate(METHODS)}
    file_rank = {f: i for i, f in enumerate(files)}
    ordered = flags.with_columns(
        pl.col("method").replace_strict(method_rank, return_dtype=pl.Int64).alias("_m"),
        pl.col("file").replace_strict(file_rank, return_dtype=pl.Int64).alias("_f"),
    ).sort("row", "_m", "_f")
    out: dict[int, Contamination] = {}
    # only flagged rows get here, each with a flag or three: a loop over them is short
    for _, group in ordered.group_by("row", maintain_order=True):
        flags_of = group.to_dicts()
        first = flags_of[0]
        parts = []
        for f in files:
            mine = [d for d in flags_of if d["file"] == f]
            if mine:
                said = "; ".join(f"item '{d['item_id']}' {describe(d, s)}" for d in mine)
                parts.append(f"{f}: {said}")
        row = int(first["row"])
        out[row] = Contamination(
            row=row,
            method=str(first["method"]),
            file=str(first["file"]),
            item_id=str(first["item_id"]),
            score=float(first["score"]),
            detail=" | ".join(parts),
        )
    return out


def rates(flags: pl.DataFrame, files: Sequence[str]) -> dict[str, dict[str, int]]:
    """Benchmark -> method (and "any") -> rows flagged."""
    out: dict[str, dict[str, int]] = {}
    for f in files:
        mine = flags.filter(pl.col("file") == f)
        by = dict(mine.group_by("method").len().iter_rows())
        out[f] = {m: int(by.get(m, 0)) for m in METHODS} | {"any": mine["row"].n_unique()}
    return out
