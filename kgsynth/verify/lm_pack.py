"""Packed layout of a batch: each row's prompt once, then all its continuations, in one
sequence, with an attention mask that makes every continuation see the prompt and itself only.

Columns of a batch row (P = longest prompt region, T = longest pack):

    [ prompt region: P columns ][ continuation region: T columns            ]
    [ pad..pad  p_0 .. p_n-2    ][ p_n-1 c1_1..c1_k-1 | p_n-1 c2_1.. | pad.. ]   left padding
    [ p_0 .. p_n-2  pad..pad    ][ same                                      ]   right padding

A continuation's segment starts with the prompt's last token, so its logits predict exactly
its tokens; its positions continue from the prompt's length, so each segment is scored as if
it alone followed the prompt (the "one sequence at a time" result). Because every row's
continuation region starts at column P, the logits needed are the last T columns for every
row and padding side (`logits_to_keep=T`).

The mask is additive (0 = attend, dtype min = blocked), the one form every attention backend
and transformers version accepts as a ready 4D mask. No real token attends to a pad, and
every query sees at least itself, so no softmax row is empty (an all-blocked row gives NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from kgsynth.verify.lm_batches import Encoded, Shape

PAD, PROMPT, SEGMENT = 0, 1, 2


@dataclass
class Packed:
    input_ids: torch.Tensor  # [B, P+T]
    position_ids: torch.Tensor  # [B, P+T]
    kind: torch.Tensor  # [B, P+T]: PAD / PROMPT / SEGMENT
    segment: torch.Tensor  # [B, P+T]: segment number within the row, -1 outside segments
    targets: torch.Tensor  # [B, T]: token predicted at each continuation column
    target_mask: torch.Tensor  # [B, T]: 1 where a target is real


def pack(
    batch: list[Encoded], shape: Shape, pad_id: int, padding_side: Literal["left", "right"]
) -> Packed:
    """The batch's host-side tensors (numpy per row: this runs while the device is busy
    with the previous batch, and must stay small next to it)."""
    b, p, t = shape.rows, shape.prefix, shape.pack
    ids = np.full((b, p + t), pad_id, dtype=np.int64)
    pos = np.zeros((b, p + t), dtype=np.int64)
    kind = np.full((b, p + t), PAD, dtype=np.int64)
    seg = np.full((b, p + t), -1, dtype=np.int64)
    tgt = np.zeros((b, t), dtype=np.int64)
    for i, enc in enumerate(batch):
        lo = p - enc.fed if padding_side == "left" else 0
        ids[i, lo : lo + enc.fed] = enc.prefix[:-1]
        pos[i, lo : lo + enc.fed] = np.arange(enc.fed)
        kind[i, lo : lo + enc.fed] = PROMPT
        lens = np.array([len(c) for c in enc.conts])
        n = int(lens.sum())
        starts = np.repeat(np.cumsum(lens) - lens, lens)
        last = enc.prefix[-1]
        ids[i, p : p + n] = [x for c in enc.conts for x in (last, *c[:-1])]
        pos[i, p : p + n] = enc.fed + np.arange(n) - starts
        kind[i, p : p + n] = SEGMENT
        seg[i, p : p + n] = np.repeat(np.arange(len(lens)), lens)
        tgt[i, :n] = [x for c in enc.conts for x in c]
    tmask = (kind[:, p:] == SEGMENT).astype(np.int64)
    return Packed(*(torch.from_numpy(x) for x in (ids, pos, kind, seg, tgt, tmask)))


def attention_bias(packed: Packed, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[B, 1, L, L] additive mask, built on the device from per-column vectors (an L x L mask
    per row would be a large host-to-device copy), in a few full-size operations.

    Positions make one rule serve both regions: a key is visible when its position is at
    most the query's and it is a prompt token or in the query's own segment. Prompt
    positions are 0..n-2 and every segment's are >= n-1, so a continuation sees the whole
    prompt and its own earlier tokens, and a prompt token sees the prompt causally."""
    kind = packed.kind.to(device, non_blocking=True)
    pos = packed.position_ids.to(device, non_blocking=True)
    # group: -1 prompt, s for segment s, -2 pad (no real token sees a pad)
    group = torch.where(kind == SEGMENT, packed.segment.to(device, non_blocking=True), -1)
    group = torch.where(kind == PAD, -2, group)
    visible = (group[:, None, :] == -1) | (group[:, None, :] == group[:, :, None])
    visible &= pos[:, None, :] <= pos[:, :, None]
    visible |= torch.eye(kind.shape[1], dtype=torch.bool, device=device)  # no empty row
    zero = torch.zeros((), dtype=dtype, device=device)
    blocked = torch.full((), torch.finfo(dtype).min, dtype=dtype, device=device)
    return torch.where(visible, zero, blocked)[:, None]
