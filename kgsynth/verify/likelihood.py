"""Likelihood verifier: does a causal LM, reading the reasoning, put the gold option first?

For each row the LM reads question + options + reasoning (conclusion removed) + an answer cue
(kgsynth.verify.lm_prompt) and every option is scored twice: the log-probability of its
letter and the per-token mean log-probability of its text. A row passes when the gold option
ranks first by the configured score with a margin >= `margin` over the best other option.

Batching (what makes it fast, and why each piece is there):
- prefix sharing by packing (kgsynth.verify.lm_pack): a row is one sequence, its prompt once
  and then all its continuations, each masked to see the prompt and itself only, with
  positions that resume at the prompt's length. The prompt is ~90% of a MedQA row's tokens
  and a row has 2 x options continuations, so this cuts the work about tenfold against
  scoring each continuation on its own; unlike reusing a KV cache copied once per
  continuation, it moves no prompt keys/values around (that copy dominated a CPU profile);
- padding: prompts are padded left (default) or right and masked; position ids are explicit,
  so a padded row computes exactly what it would alone;
- bucketing: rows sorted by prompt length, longest first, batched under a token budget
  (kgsynth.verify.lm_batches), so padding is small and the largest batch comes first;
- budget: from free device memory and the model's shape ("auto"), or fixed; on CUDA
  out-of-memory the budget is halved and the same rows are retried in smaller batches. A test
  hook (`simulate_oom`) raises a simulated OOM inside the forward or the log-prob step, so
  that path runs on CPU.
Only the logits that are needed are computed (`logits_to_keep`: the continuation columns),
and turned into log-probs in bounded fp32 chunks.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from kgsynth.config import LikelihoodVerifierConfig
from kgsynth.errors import ConfigError
from kgsynth.records import GeneratedQA, OptionScore, OptionScores
from kgsynth.verify.lm_batches import Encoded, Shape, length_order, shape_of, take
from kgsynth.verify.lm_pack import attention_bias, pack
from kgsynth.verify.lm_prompt import (
    ANSWER_CUE,
    PROMPT_VERSION,
    ScoreRow,
    continuations,
    from_generated,
    prompt_text,
)

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_LOGPROB_CHUNK_BYTES = 256 << 20  # fp32 logits turned into log-probs at a time
_CPU_MAX_TOKENS = 2048  # see _auto_budget: flat from 1 to ~3 MedQA rows, slower past 8k
# skipped rows that still pass: there is nothing to discriminate between
_NOT_APPLICABLE = {"no_options", "single_option"}


@dataclass
class Stats:
    """Counters of the last `score` call (the bench turns them into throughput and FLOPs)."""

    rows: int = 0
    batches: int = 0
    oom_backoffs: int = 0
    prefix_tokens: int = 0  # real prompt tokens run
    prefix_slots: int = 0  # padded rows x prompt region
    cont_tokens: int = 0  # real continuation-segment tokens run
    cont_slots: int = 0  # padded rows x continuation region
    encode_seconds: float = 0.0  # tokenisation, part of `seconds`
    seconds: float = 0.0


def rank_and_margin(
    scores: dict[str, float], gold: str, min_margin: float
) -> tuple[str, int, float, bool]:
    """(best letter, gold's rank, margin, passed). A tie is not a win: options scoring equal
    to gold rank ahead of it, so a passing row always has gold strictly first."""
    g = scores[gold]
    others = [s for k, s in scores.items() if k != gold]
    rank = 1 + sum(s >= g for s in others)
    margin = g - max(others)
    best = max(scores, key=lambda k: (scores[k], k != gold))
    return best, rank, margin, rank == 1 and margin >= min_margin


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("verifier.device: cuda requested but no CUDA device is available")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    return _DTYPES[name]


def _available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # blocks torch's allocator holds but does not use are free to this process too
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + cached)
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        avail = 8 << 30
    # CPU throughput stops growing long before RAM runs out: no point holding more
    return min(int(avail), 16 << 30)


class LikelihoodVerifier:
    def __init__(self, model: Any, tokenizer: Any, cfg: LikelihoodVerifierConfig) -> None:
        model.eval()
        self.model = torch.compile(model, dynamic=True) if cfg.compile else model
        self.tok = tokenizer
        self.cfg = cfg
        first = next(model.parameters())
        self.device, self.dtype = first.device, first.dtype
        params = inspect.signature(model.forward).parameters
        # transformers renamed num_logits_to_keep -> logits_to_keep (4.45): use either
        self._keep_kw = next(
            (k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None
        )
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))
        text_cfg = getattr(model.config, "get_text_config", lambda: model.config)()
        self._text_cfg = text_cfg
        self.max_positions: int | None = getattr(text_cfg, "max_position_embeddings", None)
        # recorded in every row it scores: the folder's name (not the user's full path)
        self.model_name = Path(getattr(model.config, "name_or_path", "") or "").name
        self.simulate_oom: Callable[[str, tuple[int, ...]], bool] | None = None  # test hook
        self.stats = Stats()
        # batch limits, set on first use and halved on out-of-memory (kept across calls)
        self._max_tokens: int | None = None
        self._max_logit_tokens: int | None = None

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, cfg: LikelihoodVerifierConfig) -> LikelihoodVerifier:
        """Tokenizer and model from a local folder, on the configured device and dtype."""
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if cfg.model_path is None:
            raise ConfigError("verifier.model_path: no model folder configured")
        path = cfg.model_path.expanduser()
        if not (path / "config.json").is_file():
            raise ConfigError(f"verifier.model_path: {path} is not a local model folder")
        device = resolve_device(cfg.device)
        dtype = resolve_dtype(cfg.dtype, device)
        major_minor = tuple(int(x) for x in transformers.__version__.split(".")[:2])
        dtype_kw = "dtype" if major_minor >= (4, 56) else "torch_dtype"
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        kwargs: dict[str, Any] = {dtype_kw: dtype, "local_files_only": True}
        if cfg.attn_implementation:
            kwargs["attn_implementation"] = cfg.attn_implementation
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs).to(device)
        return cls(model, tok, cfg)

    # -- public -----------------------------------------------------------------------------
    def score(self, rows: Sequence[ScoreRow | GeneratedQA]) -> list[OptionScores]:
        """Scores in input order, batched (see the module doc)."""
        t0 = time.perf_counter()
        srows = [r if isinstance(r, ScoreRow) else from_generated(r) for r in rows]
        encs, skipped = self._encode(srows)
        self.stats = Stats(rows=len(srows), encode_seconds=time.perf_counter() - t0)
        # per-batch sums stay on the device until the end: no sync per batch, so packing the
        # next batch on the host overlaps the device's work on this one
        pending: list[tuple[list[Encoded], torch.Tensor]] = []
        queue = length_order(encs, longest_first=self.cfg.longest_first)
        start = 0
        with torch.inference_mode():
            while start < len(queue):
                max_tokens, max_logits = self._budget(queue)
                n = take(
                    queue,
                    start,
                    max_tokens=max_tokens,
                    max_rows=self.cfg.batch_size,
                    max_logit_tokens=max_logits,
                )
                batch = queue[start : start + n]
                out = self._try_batch(batch)
                if out is None:  # out of memory: smaller batches, same rows
                    self._back_off(shape_of(batch))
                    continue
                pending.append((batch, out))
                start += n
        sums: dict[int, list[tuple[float, int]]] = {}
        for batch, out in pending:
            for enc, row in zip(batch, out.cpu().tolist(), strict=True):
                sums[enc.index] = [(row[s], len(c)) for s, c in enumerate(enc.conts)]
        self.stats.seconds = time.perf_counter() - t0
        return [self._result(r, sums.get(i), skipped.get(i)) for i, r in enumerate(srows)]

    def score_sequential(self, rows: Sequence[ScoreRow | GeneratedQA]) -> list[OptionScores]:
        """The plain reference: every (row, continuation) as its own full sequence, one forward
        each, no padding, no cache. Same results as `score` up to float rounding."""
        t0 = time.perf_counter()
        srows = [r if isinstance(r, ScoreRow) else from_generated(r) for r in rows]
        encs, skipped = self._encode(srows)
        self.stats = Stats(rows=len(srows), encode_seconds=time.perf_counter() - t0)
        sums: dict[int, list[tuple[float, int]]] = {}
        with torch.inference_mode():
            for enc in encs:
                row_sums = []
                for cont in enc.conts:
                    ids = torch.tensor([enc.prefix + cont], device=self.device)
                    kw = {self._keep_kw: len(cont) + 1} if self._keep_kw else {}
                    out = self._forward("sequential", input_ids=ids, use_cache=False, **kw)
                    logits = out.logits[:, -(len(cont) + 1) : -1]
                    tgt = torch.tensor([cont], device=self.device)
                    lp = _token_logprobs(logits, tgt)
                    row_sums.append((float(lp.sum().double()), len(cont)))
                    self.stats.batches += 1
                    self.stats.prefix_tokens += len(enc.prefix) - 1
                    self.stats.cont_tokens += len(cont)
                sums[enc.index] = row_sums
        self._sync()
        self.stats.seconds = time.perf_counter() - t0
        return [self._result(r, sums.get(i), skipped.get(i)) for i, r in enumerate(srows)]

    # -- encoding ---------------------------------------------------------------------------
    def _encode(self, rows: list[ScoreRow]) -> tuple[list[Encoded], dict[int, str]]:
        skipped: dict[int, str] = {}
        todo: list[int] = []
        for i, r in enumerate(rows):
            if not r.options:
                skipped[i] = "no_options"
            elif len(r.options) < 2:
                skipped[i] = "single_option"
            elif r.gold is None:
                skipped[i] = "gold_unknown"
            elif any(not t.strip() for t in r.options.values()):
                skipped[i] = "empty_option"
            else:
                todo.append(i)
        if not todo:
            return [], skipped
        prefixes = self.tok([prompt_text(rows[i]) for i in todo], add_special_tokens=True)
        conts = [continuations(rows[i]) for i in todo]
        # a continuation is tokenised after the cue and the cue's tokens dropped, so it gets
        # the ids it has in context (SentencePiece would add a word boundary on its own)
        cue = self.tok(ANSWER_CUE, add_special_tokens=False)["input_ids"]
        flat = [ANSWER_CUE + text for cs in conts for _, _, text in cs]
        flat_ids = self.tok(flat, add_special_tokens=False)["input_ids"]
        encs: list[Encoded] = []
        pos = 0
        for i, prefix, cs in zip(todo, prefixes["input_ids"], conts, strict=True):
            ids = []
            for (_, _, text), full in zip(cs, flat_ids[pos : pos + len(cs)], strict=True):
                if full[: len(cue)] == cue:
                    ids.append(list(full[len(cue) :]))
                else:
                    ids.append(list(self.tok(text, add_special_tokens=False)["input_ids"]))
            pos += len(cs)
            longest = len(prefix) + max(len(c) for c in ids)
            if any(not c for c in ids):
                skipped[i] = "empty_option"
            elif len(prefix) < 2:
                skipped[i] = "empty_prompt"
            elif self.max_positions is not None and longest > self.max_positions:
                skipped[i] = "too_long"
            else:
                encs.append(Encoded(index=i, prefix=list(prefix), conts=ids))
        return encs, skipped

    # -- batching ---------------------------------------------------------------------------
    def _budget(self, queue: list[Encoded]) -> tuple[int, int | None]:
        if self._max_tokens is None:
            if self.cfg.max_batch_tokens == "auto":
                longest = max(e.fed + e.pack for e in queue)
                self._max_tokens, self._max_logit_tokens = self._auto_budget(longest)
            else:
                self._max_tokens = int(self.cfg.max_batch_tokens)
        return self._max_tokens, self._max_logit_tokens

    def _auto_budget(self, longest: int) -> tuple[int, int]:
        """Padded tokens and kept logits that fit `memory_fraction` of free memory. A token
        costs one layer's transient activations plus its row of the L x L mask (and the
        boolean temporaries that build it); a kept logit costs a vocabulary row in the model's
        dtype and in fp32. Rough by design: the out-of-memory back-off corrects an overshoot.
        On CPU the token budget is also capped: GEMMs there are as fast on one row as on
        many, while padding and the mask grow with the batch."""
        c = self._text_cfg
        hidden = int(c.hidden_size)
        inter = int(getattr(c, "intermediate_size", None) or 4 * hidden)
        el = torch.finfo(self.dtype).bits // 8
        per_token = (6 * hidden + 3 * inter) * el + longest * (el + 6)
        per_logit = int(c.vocab_size) * (el + 4)
        avail = _available_bytes(self.device) * self.cfg.memory_fraction
        tokens = max(int(0.75 * avail) // per_token, 1)
        if self.device.type != "cuda":
            tokens = min(tokens, _CPU_MAX_TOKENS)
        return tokens, max(int(0.25 * avail) // per_logit, 1)

    def _back_off(self, failed: Shape) -> None:
        self.stats.oom_backoffs += 1
        self._max_tokens = max(failed.tokens // 2, 1)
        if self._max_logit_tokens is not None:
            self._max_logit_tokens = max(failed.logit_tokens // 2, 1)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _try_batch(self, batch: list[Encoded]) -> torch.Tensor | None:
        """The batch's summed log-prob per (row, continuation), or None on out-of-memory.
        Returning (rather than retrying inside `except`) frees the traceback and the tensors
        it holds before the retry allocates again."""
        try:
            return self._score_batch(batch)
        except torch.cuda.OutOfMemoryError:
            if len(batch) == 1:
                raise  # nothing left to split: one row does not fit
            return None

    def _oom_check(self, phase: str, shape: tuple[int, ...]) -> None:
        if self.simulate_oom is not None and self.simulate_oom(phase, shape):
            raise torch.cuda.OutOfMemoryError(f"simulated CUDA out of memory ({phase})")

    def _forward(self, phase: str, **kw: Any) -> Any:
        self._oom_check(phase, tuple(kw["input_ids"].shape))
        return self.model(**kw)

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":  # pinned, so the copy is truly asynchronous
            return t.pin_memory().to(self.device, non_blocking=True)
        return t

    def _score_batch(self, batch: list[Encoded]) -> torch.Tensor:
        """[rows, most continuations] summed log-probs, left on the device."""
        shape = shape_of(batch)
        packed = pack(batch, shape, self.pad_id, self.cfg.padding_side)
        for name in ("input_ids", "position_ids", "kind", "segment", "targets", "target_mask"):
            setattr(packed, name, self._to_device(getattr(packed, name)))
        keep = {self._keep_kw: shape.pack} if self._keep_kw else {}
        out = self._forward(
            "batch",
            input_ids=packed.input_ids,
            position_ids=packed.position_ids,
            attention_mask=attention_bias(packed, self.dtype, self.device),
            use_cache=False,
            **keep,
        )
        logits = out.logits[:, -shape.pack :]  # the continuation region (all, if not kept)
        del out
        self._oom_check("logprobs", tuple(logits.shape))
        lp = _token_logprobs(logits, packed.targets) * packed.target_mask
        del logits
        # per-continuation sums: scatter each column's log-prob onto its segment number
        seg = packed.segment[:, -shape.pack :]
        n_conts = max(len(e.conts) for e in batch)
        sums = torch.zeros((shape.rows, n_conts), dtype=torch.float64, device=self.device)
        sums.scatter_add_(1, seg.clamp(min=0), lp.double() * (seg >= 0))
        st = self.stats
        st.batches += 1
        st.prefix_tokens += sum(e.fed for e in batch)
        st.prefix_slots += shape.rows * shape.prefix
        st.cont_tokens += sum(e.pack for e in batch)
        st.cont_slots += shape.rows * shape.pack
        return sums

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    # -- verdicts ---------------------------------------------------------------------------
    def _result(
        self, row: ScoreRow, sums: list[tuple[float, int]] | None, skipped: str | None
    ) -> OptionScores:
        kind = self.cfg.score
        if sums is None:
            return self._verdict(
                row, passed=skipped in _NOT_APPLICABLE, skipped=skipped or "not_scored"
            )
        per: dict[str, dict[str, tuple[float, int]]] = {}
        for (letter, ckind, _), s in zip(continuations(row), sums, strict=True):
            per.setdefault(letter, {})[ckind] = s
        options: list[OptionScore] = []
        for letter, parts in per.items():
            (lsum, ln), (tsum, tn) = parts["letter"], parts["text"]
            lmean, tmean = lsum / ln, tsum / tn
            chosen = {"letter": lmean, "text": tmean, "both": (lmean + tmean) / 2}[kind]
            options.append(
                OptionScore(
                    letter=letter,
                    letter_logprob=lsum,
                    letter_tokens=ln,
                    text_logprob=tsum,
                    text_tokens=tn,
                    text_mean=tmean,
                    score=chosen,
                )
            )
        assert row.gold is not None  # rows without a gold letter are skipped in _encode
        scores = {o.letter: o.score for o in options}
        if not all(math.isfinite(s) for s in scores.values()):
            return self._verdict(row, options=options, passed=False, skipped="non_finite_score")
        best, rank, margin, passed = rank_and_margin(scores, row.gold, self.cfg.margin)
        return self._verdict(
            row, options=options, best=best, rank=rank, margin=margin, passed=passed
        )

    def _verdict(self, row: ScoreRow, **fields: Any) -> OptionScores:
        """A row's OptionScores with the fields every verdict shares filled in."""
        return OptionScores(
            id=row.id,
            gold=row.gold,
            score_kind=self.cfg.score,
            prompt_version=PROMPT_VERSION,
            model=self.model_name,
            **fields,
        )


def _token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) per position, in fp32, a bounded chunk of rows at a time (a full fp32
    copy of [continuations, length, vocab] logits can be gigabytes)."""
    n, k, v = logits.shape
    out = torch.empty((n, k), dtype=torch.float32, device=logits.device)
    step = max(1, _LOGPROB_CHUNK_BYTES // max(k * v * 4, 1))
    for s in range(0, n, step):
        x = logits[s : s + step].float()
        picked = x.gather(-1, targets[s : s + step, :, None]).squeeze(-1)
        out[s : s + step] = picked - torch.logsumexp(x, dim=-1)
    return out
