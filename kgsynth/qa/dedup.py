"""Duplicate questions across the input: exact (normalised text) and near (MinHash + LSH).

Runs on the whole input, in input order, before anything else: the first occurrence of a
question is kept and every later copy becomes a Reject (stage `dedup`) naming the row it
duplicates, so input = exported + rejected still holds.

- Exact: NFKC, lower case, every run of non-letters/digits folded to one space, over the
  question and its options sorted (a reordered copy is still a copy). Grouped in polars.
- Near: word n-gram shingles of that same text, MinHash sketches in an LSH index of the rows
  kept so far; each LSH candidate is confirmed by the exact Jaccard of the shingle sets, so a
  merge never rests on an estimate. A row joins the kept row it is most similar to (earliest
  on ties); kept rows are pairwise below the threshold among themselves. Up to
  ALL_PAIRS_MAX distinct texts every kept row is a candidate instead: the exact answer LSH
  approximates, cheaper at that size than sketching (and than importing datasketch, which
  pulls in scipy: ~0.6 s of an ad-hoc build's start).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import polars as pl

from kgsynth.config import DedupConfig
from kgsynth.records import QARecord, Reject

# LSH bands are chosen so that a pair exactly at the threshold becomes a candidate with this
# probability; candidates are verified exactly, so extra candidates only cost time
LSH_RECALL = 0.99
N_EXAMPLES = 10  # duplicate pairs kept in the summary (card, build.json), half of each kind
SNIPPET = 90  # characters of each question shown beside a pair
ALL_PAIRS_MAX = 300  # distinct texts up to which every pair is compared exactly (no LSH)


@dataclass(frozen=True)
class DupPair:
    id: str  # the dropped row
    kept_id: str  # the first occurrence, which stays
    kind: Literal["exact", "near"]
    jaccard: float  # of the shingle sets (1.0 for exact copies)


@dataclass
class DedupResult:
    kept: list[QARecord]
    rejects: list[Reject]
    pairs: list[DupPair]
    summary: dict[str, Any]


def _fold(col: pl.Expr) -> pl.Expr:
    return (
        col.str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars()
    )


def normalised_texts(records: list[QARecord], include_options: bool = True) -> pl.Series:
    """The text duplicates are judged on, one per record, in input order."""
    frame = pl.DataFrame(
        {
            "question": [r.question for r in records],
            "options": [list(r.options.values()) for r in records],
        },
        schema={"question": pl.String, "options": pl.List(pl.String)},
    )
    text = _fold(pl.col("question"))
    if include_options:
        opts = pl.col("options").list.eval(_fold(pl.element())).list.sort().list.join(" ")
        text = pl.concat_str([text, opts], separator=" ").str.strip_chars()
    return frame.select(text.alias("text"))["text"]


def exact_first(texts: pl.Series) -> pl.Series:
    """For each row, the index of the first row with the same text (itself when first)."""
    frame = pl.DataFrame({"text": texts}).with_row_index("i")
    return frame.select(pl.col("i").first().over("text").alias("first"))["first"]


def shingles(text: str, n: int) -> frozenset[str]:
    words = text.split()
    if len(words) <= n:  # a short text is one shingle, so it still has a set
        return frozenset({" ".join(words)})
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) if a or b else 1.0


def lsh_params(threshold: float, num_perm: int, recall: float = LSH_RECALL) -> tuple[int, int]:
    """(bands, rows per band): the most rows per band (fewest false candidates) for which a
    pair at the threshold still collides in some band with probability >= recall."""
    for r in range(num_perm, 0, -1):
        b = num_perm // r
        if 1.0 - (1.0 - threshold**r) ** b >= recall:
            return b, r
    return num_perm, 1


def _near(
    texts: list[str], cfg: DedupConfig
) -> tuple[dict[int, tuple[int, float]], list[tuple[int, int, float]], tuple[int, int] | None]:
    """Near duplicates among distinct texts (indices into `texts`), in order.

    Returns {dropped: (kept, jaccard)}, the closest candidate pairs left apart (for the card)
    and the LSH (bands, rows), None when every pair was compared (small inputs)."""
    sets = [shingles(t, cfg.ngram) for t in texts]
    dropped: dict[int, tuple[int, float]] = {}
    apart: list[tuple[int, int, float]] = []
    lsh_params_used: tuple[int, int] | None = None
    kept: list[int] = []  # the rows kept so far: every pair's candidates when no LSH
    query: Callable[[int], Iterable[int]] = lambda _i: kept  # noqa: E731
    insert: Callable[[int], None] = kept.append
    if len(texts) > ALL_PAIRS_MAX:
        from datasketch import MinHash, MinHashLSH  # here: heavy, and small inputs skip it

        bands, rows = lsh_params_used = lsh_params(cfg.threshold, cfg.num_perm)
        lsh = MinHashLSH(num_perm=cfg.num_perm, params=(bands, rows))
        sketches = list(
            MinHash.generator(
                ([s.encode("utf-8") for s in sh] for sh in sets),
                num_perm=cfg.num_perm,
                seed=cfg.seed,
            )
        )
        query = lambda i: lsh.query(sketches[i])  # noqa: E731
        insert = lambda i: lsh.insert(i, sketches[i])  # noqa: E731
    for i in range(len(texts)):
        scored = sorted((-jaccard(sets[i], sets[k]), k) for k in query(i))
        if scored and -scored[0][0] >= cfg.threshold:
            dropped[i] = (scored[0][1], -scored[0][0])
            continue
        if scored:
            apart.append((scored[0][1], i, -scored[0][0]))
        insert(i)
    apart.sort(key=lambda p: (-p[2], p[0], p[1]))
    return dropped, apart[:3], lsh_params_used


def _reject(qa: QARecord, reason: str, detail: str) -> Reject:
    line = qa.meta.get("line", "")
    return Reject(
        id=qa.id,
        stage="dedup",
        reason=reason,
        detail=detail,
        source_file=qa.meta.get("file"),
        line=int(line) if line.isdigit() else None,
    )


def find_duplicates(records: list[QARecord], cfg: DedupConfig) -> DedupResult:
    """Split records into the kept ones (input order) and rejects for their duplicates."""
    if not cfg.enabled or not records:
        summary = {"enabled": cfg.enabled, "checked": len(records), "exact": 0, "near": 0}
        return DedupResult(list(records), [], [], summary | {"kept": len(records)})
    texts = normalised_texts(records, cfg.include_options)
    first = exact_first(texts).to_list()
    unique = [i for i, f in enumerate(first) if f == i]
    # each distinct text -> the kept row it belongs to and their Jaccard (itself, 1.0 if kept)
    rep: dict[int, tuple[int, float]] = {i: (i, 1.0) for i in unique}
    closest: list[dict[str, Any]] = []
    lsh: tuple[int, int] | None = None
    if cfg.near:
        text_list = texts.to_list()
        near, apart, lsh = _near([text_list[i] for i in unique], cfg)
        rep |= {unique[u]: (unique[k], j) for u, (k, j) in near.items()}
        closest = [
            {"a": records[unique[a]].id, "b": records[unique[b]].id, "jaccard": round(j, 4)}
            for a, b, j in apart
        ]
    # every dropped row names a kept row: an exact copy of a near duplicate is, with the same
    # text, a near duplicate of that one's kept row (at the same Jaccard)
    pairs: dict[int, DupPair] = {}
    for i, f in enumerate(first):
        k, j = rep[f]
        if k != i:
            kind: Literal["exact", "near"] = "exact" if k == f else "near"
            pairs[i] = DupPair(records[i].id, records[k].id, kind, j)
    by_id = {r.id: r for r in records}
    rejects = [
        _reject(
            records[i],
            f"duplicate_{p.kind}",
            f"exact duplicate of '{p.kept_id}' (same normalised question and options)"
            if p.kind == "exact"
            else f"near duplicate of '{p.kept_id}' (Jaccard {p.jaccard:.3f} >= {cfg.threshold})",
        )
        for i, p in sorted(pairs.items())
    ]
    kept = [r for i, r in enumerate(records) if i not in pairs]
    ordered = [pairs[i] for i in sorted(pairs)]
    n_exact = sum(p.kind == "exact" for p in ordered)
    summary: dict[str, Any] = {
        "enabled": True,
        "near_enabled": cfg.near,
        "threshold": cfg.threshold,
        "shingles": f"word {cfg.ngram}-grams of the question"
        + (" and its options" if cfg.include_options else ""),
        "num_perm": cfg.num_perm,
        "lsh": {"bands": lsh[0], "rows": lsh[1]} if lsh else None,
        # "all pairs" for small inputs: every pair compared exactly, no sketches
        "method": ("lsh" if lsh else "all pairs") if cfg.near else None,
        "checked": len(records),
        "exact": n_exact,
        "near": len(ordered) - n_exact,
        "kept": len(kept),
        "examples": [
            asdict(p)
            | {
                "jaccard": round(p.jaccard, 4),
                "question": by_id[p.id].question[:SNIPPET],
                "kept_question": by_id[p.kept_id].question[:SNIPPET],
            }
            # the first few of each kind, in input order
            for p in [q for q in ordered if q.kind == "exact"][: N_EXAMPLES // 2]
            + [q for q in ordered if q.kind == "near"][: N_EXAMPLES // 2]
        ],
        "closest_kept": closest,  # the most similar candidates that stayed apart
    }
    return DedupResult(kept, rejects, ordered, summary)
