"""Vectorised text features for decontamination: word n-gram hashes and MinHash signatures.

Everything works on whole columns (polars for the strings, numpy for the arithmetic): 200k
rows of ~150 words are some 30M words, which per-row Python could not touch in a minute.

- Text: dedup's normalised text (kgsynth.qa.dedup: NFKC, lower case, punctuation folded;
  the question, then its options sorted, so a reordered copy reads the same).
- Words: split on spaces and hashed by polars; every word of every row lies in one array,
  a row's words consecutive.
- Windows: the hash of the n words from p is sum_j word[p + j] * B^j (mod 2^64), read off
  prefix sums of word[i] * B^i times B^-p (B odd, so invertible mod 2^64): six passes over
  the words whatever n is. Its top 40 bits are kept, packed under the row number into one
  uint64, so one numpy sort makes each row's windows distinct (2^40 values: a ~1e-6 chance
  that a window meets another's hash in a 1M-entry index). A window that would run into the
  next row is dropped.
- Signatures: one-permutation MinHash (Li, Owen & Zhang 2012): each shingle falls in one of
  P bins, the signature is the minimum per bin, and an empty bin borrows from the next
  filled bin to its right (rotation densification, Shrivastava & Li 2014): one pass over the
  shingles instead of P, and the share of equal bins still estimates the Jaccard.
- Bands: r bins per band hashed together with the band's number, for LSH as a join.

Hashes depend on the polars version (its string hash is stable within one version), which
is part of every cached index's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from kgsynth.qa.dedup import _fold
from kgsynth.records import QARecord

U64 = np.uint64
EMPTY = np.uint32(0xFFFFFFFF)  # a signature bin no shingle fell in
WORD_SEED = 0x6B67  # polars' hash seed for words
_BASE = 0x9E3779B97F4A7C15  # odd: the windows' polynomial base
_BASE_INV = pow(_BASE, -1, 2**64)
_MIX = U64(0xBF58476D1CE4E5B9)  # odd multipliers (splitmix64's)
_MIX2 = U64(0x94D049BB133111EB)
_ROTATE = np.uint32(0x9E3779B1)  # added per bin of distance when an empty bin borrows
_LOW40 = U64((1 << 40) - 1)
MAX_ROWS = 1 << 24  # rows per batch (and items per index): the row sits above 40 bits


def normalised(records: Sequence[QARecord]) -> pl.Series:
    """dedup's text of each record (kgsynth.qa.dedup.normalised_texts with its options), by
    the same `_fold`, built from flat columns and folding each distinct option text once:
    a list column made from Python lists, and folding 1M short strings one by one, cost
    more than the folding of the questions at 200k rows."""
    n = len(records)
    lengths = np.fromiter((len(r.options) for r in records), dtype=np.int64, count=n)
    flat = pl.DataFrame(
        {
            "row": np.repeat(np.arange(n, dtype=np.int64), lengths),
            "o": pl.Series([v for r in records for v in r.options.values()], dtype=pl.String),
        }
    )
    distinct = flat.select(pl.col("o").unique()).with_columns(_fold(pl.col("o")).alias("f"))
    options = (
        flat.join(distinct, on="o", how="left")
        .sort("row", "f")
        .group_by("row", maintain_order=True)
        .agg(pl.col("f").str.join(" "))
    )
    questions = pl.DataFrame(
        {"row": np.arange(n, dtype=np.int64), "q": [r.question for r in records]},
        schema={"row": pl.Int64, "q": pl.String},
    )
    text = pl.concat_str([_fold(pl.col("q")), pl.col("f").fill_null("")], separator=" ")
    joined = questions.join(options, on="row", how="left", maintain_order="left")
    return joined.select(text.str.strip_chars().alias("text"))["text"]


@dataclass
class Grams:
    """Distinct (row, 40-bit hash) pairs of a batch, sorted by row then hash."""

    rows: np.ndarray  # int64
    h: np.ndarray  # uint64

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"row": self.rows, "h": self.h}, schema={"row": pl.Int64, "h": pl.UInt64}
        )

    def counts(self, n_rows: int) -> np.ndarray:
        return np.bincount(self.rows, minlength=n_rows)

    def starts(self, n_rows: int) -> np.ndarray:
        """Where each row's pairs begin."""
        return np.searchsorted(self.rows, np.arange(n_rows))

    def subset(self, keep: np.ndarray) -> Grams:
        return Grams(self.rows[keep], self.h[keep])


class Words:
    """Every word of a batch of normalised texts, hashed, with the prefix sums its windows
    are read from."""

    def __init__(self, texts: pl.Series) -> None:
        frame = pl.DataFrame({"t": texts.fill_null("")}).with_row_index("row")
        w = (
            frame.select(pl.col("row").cast(pl.Int64), pl.col("t").str.split(" ").alias("w"))
            .explode("w")
            .filter(pl.col("w").str.len_bytes() > 0)
        )
        self.n_rows = len(texts)
        assert self.n_rows < MAX_ROWS
        self.rows: np.ndarray = w["row"].to_numpy()
        hashes = w["w"].hash(seed=WORD_SEED).to_numpy()
        m = len(hashes)
        self.lengths = np.bincount(self.rows, minlength=self.n_rows)
        self.first = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        # prefix[i] = sum_{k<i} word[k] * B^k; inverse[p] = B^-p (all mod 2^64: uint64 wraps)
        self.inverse = _powers(_BASE_INV, m)
        self.prefix = np.zeros(m + 1, dtype=U64)
        np.cumsum(hashes * _powers(_BASE, m), out=self.prefix[1:])

    def windows(self, n: int, short: bool) -> Grams:
        """Distinct (row, hash) of every n consecutive words of a row. With `short`, a row of
        fewer than n words (but at least one) gives one hash of all of its words."""
        m = len(self.rows)
        starts = np.flatnonzero(self.rows[: max(m - n + 1, 0)] == self.rows[n - 1 :])
        ends = starts + n
        rows = self.rows[starts]
        if short:
            few = np.flatnonzero((self.lengths > 0) & (self.lengths < n))
            starts = np.concatenate([starts, self.first[few]])
            ends = np.concatenate([ends, self.first[few] + self.lengths[few]])
            rows = np.concatenate([rows, few.astype(np.int64)])
        sums = (self.prefix[ends] - self.prefix[starts]) * self.inverse[starts]
        packed = np.unique((rows.astype(U64) << U64(40)) | (sums >> U64(24)))
        return Grams((packed >> U64(40)).astype(np.int64), packed & _LOW40)


def _powers(base: int, m: int) -> np.ndarray:
    out = np.full(m, U64(base), dtype=U64)
    if m:
        out[0] = 1
    return np.cumprod(out, out=out)


def signatures(g: Grams, n_rows: int, bins: int, seed: int) -> np.ndarray:
    """(n_rows, bins) uint32 one-permutation MinHash signatures of each row's shingles; a
    row without shingles is all EMPTY. The seed picks the hash (bin and value) of each."""
    x = (g.h ^ U64(seed % 2**64)) * _MIX
    x ^= x >> U64(29)
    x *= _MIX2
    where = ((x >> U64(32)) % U64(bins)).astype(np.int64)
    vals = np.minimum((x & U64(0xFFFFFFFF)).astype(np.uint32), EMPTY - np.uint32(1))
    sig = np.full(n_rows * bins, EMPTY, dtype=np.uint32)
    np.minimum.at(sig, g.rows * bins + where, vals)
    return densify(sig.reshape(n_rows, bins))


def densify(sig: np.ndarray) -> np.ndarray:
    """Each empty bin takes the next filled bin to its right (circularly), shifted by its
    distance, so two rows agree on an empty bin only when their donors agree."""
    n, bins = sig.shape
    filled = sig != EMPTY
    if n == 0 or filled.all():
        return sig
    far = np.int16(4 * bins)  # no filled bin at all
    col = np.arange(2 * bins, dtype=np.int16)
    idx = np.where(np.concatenate([filled, filled], axis=1), col, far)
    nearest = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1][:, :bins]
    has = nearest < far
    donor = np.where(has, nearest % bins, 0)
    dist = (nearest - np.arange(bins, dtype=np.int16)).astype(np.uint32)
    borrowed = np.take_along_axis(sig, donor.astype(np.intp), axis=1) + dist * _ROTATE
    out = np.where(has, np.minimum(borrowed, EMPTY - np.uint32(1)), EMPTY)
    return np.where(filled, sig, out)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, key) for every band of every row with shingles: `rows` bins per band hashed
    together with the band's number (one join column)."""
    some = np.flatnonzero(sig[:, 0] != EMPTY)  # densified: bin 0 is empty only when all are
    s = sig[some, : bands * rows].astype(U64).reshape(len(some), bands, rows)
    key = np.zeros((len(some), bands), dtype=U64)
    for j in range(rows):  # rows is small (2-10 at the usual thresholds)
        key = (key ^ s[:, :, j]) * _MIX
        key ^= key >> U64(31)
    key = (key + np.arange(1, bands + 1, dtype=U64)) * _MIX2
    key ^= key >> U64(29)
    return np.repeat(some.astype(np.int64), bands), key.reshape(-1)


def text_hashes(texts: pl.Series) -> np.ndarray:
    """One hash per whole normalised text (exact copies)."""
    return texts.fill_null("").hash(seed=WORD_SEED + 1).to_numpy()
