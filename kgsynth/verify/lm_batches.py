"""Length bucketing for the likelihood verifier: which rows share a forward pass.

Each row runs as one packed sequence (kgsynth.verify.lm_pack): its prompt, then every
continuation of every option one after another. A batch is padded to its longest prompt plus
its longest pack, so its cost is rows x (prompt + pack) tokens, and the logits kept are rows x
pack. Rows are sorted by prompt length so a batch pads little, and longest first so the first
batch is the largest a run will see: an out-of-memory error surfaces at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Encoded:
    """One row, tokenised."""

    index: int  # position in the caller's list
    prefix: list[int]  # prompt ids; the last one starts each continuation's segment
    conts: list[list[int]]  # continuation ids, at least one token each

    @property
    def fed(self) -> int:
        """Prompt tokens in the prompt region (all but the last)."""
        return len(self.prefix) - 1

    @property
    def pack(self) -> int:
        """Tokens of all continuation segments: a segment is the prompt's last token plus all
        but the continuation's last one (no logit is needed after the final token)."""
        return sum(len(c) for c in self.conts)


@dataclass(frozen=True)
class Shape:
    rows: int
    prefix: int  # padded prompt region
    pack: int  # padded continuation region

    @property
    def tokens(self) -> int:
        return self.rows * (self.prefix + self.pack)

    @property
    def logit_tokens(self) -> int:
        return self.rows * self.pack


def shape_of(rows: Sequence[Encoded]) -> Shape:
    return Shape(
        rows=len(rows),
        prefix=max(r.fed for r in rows),
        pack=max(r.pack for r in rows),
    )


def length_order(rows: Sequence[Encoded], *, longest_first: bool = True) -> list[Encoded]:
    """Rows sorted by prompt length; ties keep input order, so the plan is deterministic."""
    sign = -1 if longest_first else 1
    return sorted(rows, key=lambda r: (sign * r.fed, r.index))


def take(
    queue: Sequence[Encoded],
    start: int,
    *,
    max_tokens: int,
    max_rows: int | None = None,
    max_logit_tokens: int | None = None,
) -> int:
    """How many rows from queue[start:] make the next batch: as many as fit the limits, and
    always at least one (a row too large on its own still runs, alone)."""
    n, prefix, pack = 1, queue[start].fed, queue[start].pack
    while start + n < len(queue) and (max_rows is None or n < max_rows):
        nxt = queue[start + n]
        shape = Shape(rows=n + 1, prefix=max(prefix, nxt.fed), pack=max(pack, nxt.pack))
        if shape.tokens > max_tokens:
            break
        if max_logit_tokens is not None and shape.logit_tokens > max_logit_tokens:
            break
        n, prefix, pack = n + 1, shape.prefix, shape.pack
    return n
