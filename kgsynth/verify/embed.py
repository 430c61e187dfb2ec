"""Embedding-similarity answer matching for free-text answers.

A local Hugging Face encoder (any AutoModel folder; nothing is downloaded) embeds the gold
answer and the candidate phrases of the conclusion; the row matches when the best cosine
reaches the threshold. Candidates are the conclusion whole, its sentences and its clauses
(split at ":", ";" and ","), because a conclusion states the answer inside a longer sentence
("The most likely diagnosis is X, given ...") and a whole-sentence embedding drifts away
from a two-word gold answer.

Embeddings are mean-pooled over the attention mask and L2-normalised; texts are sorted by
length and batched, so padding is small and a padded text embeds as it would alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from kgsynth.errors import ConfigError
from kgsynth.verify.likelihood import resolve_device

_LEAD = re.compile(
    r"^\s*(?:conclusion\s*:)?\s*(?:so\s+|thus\s+|therefore\s+)?(?:the\s+)?"
    r"(?:(?:final|correct|most likely)\s+)?(?:answer|diagnosis)\s+(?:is|would be)\s*:?\s*",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CLAUSE = re.compile(r"\s*[:;,]\s*")


def answer_candidates(conclusion: str) -> list[str]:
    """The phrases of a conclusion that may state the answer, whole text first, distinct."""
    out: dict[str, None] = {}
    whole = conclusion.strip()
    for part in [whole, *_SENTENCE.split(whole)]:
        part = part.strip().rstrip(".").strip()
        if not part:
            continue
        out.setdefault(part, None)
        bare = _LEAD.sub("", part).strip()
        if bare:
            out.setdefault(bare, None)
        for clause in _CLAUSE.split(bare or part):
            clause = _LEAD.sub("", clause).strip()
            if clause:
                out.setdefault(clause, None)
    return list(out)


class Embedder:
    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 64) -> None:
        model.eval()
        self.model = model
        self.tok = tokenizer
        self.batch_size = batch_size
        self.device = next(model.parameters()).device

    @classmethod
    def load(cls, path: Path, device: str = "auto", batch_size: int = 64) -> Embedder:
        from transformers import AutoModel, AutoTokenizer

        path = path.expanduser()
        if not (path / "config.json").is_file():
            raise ConfigError(f"verify.free_text.model_path: {path} is not a local model folder")
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        return cls(model.to(resolve_device(device)), tok, batch_size)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """[len(texts), dim] unit vectors, in input order."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[torch.Tensor | None] = [None] * len(texts)
        limit = getattr(self.tok, "model_max_length", None)
        trunc = bool(limit and limit < 1_000_000)
        with torch.inference_mode():
            for s in range(0, len(order), self.batch_size):
                idx = order[s : s + self.batch_size]
                enc = self.tok(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=trunc,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                vecs = torch.nn.functional.normalize(pooled, dim=-1).cpu()
                for i, v in zip(idx, vecs, strict=True):
                    out[i] = v
        if not texts:
            return torch.empty((0, 0))
        return torch.stack([v for v in out if v is not None])

    def best_similarity(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Per (gold, conclusion): the highest cosine of gold to any candidate phrase."""
        cands = [answer_candidates(concl) or [concl] for _, concl in pairs]
        golds = [gold.strip() for gold, _ in pairs]
        flat = golds + [c for cs in cands for c in cs]
        if not pairs:
            return []
        vecs = self.encode(flat)
        gold_vecs, cand_vecs = vecs[: len(golds)], vecs[len(golds) :]
        sims: list[float] = []
        pos = 0
        for g, cs in zip(gold_vecs, cands, strict=True):
            block = cand_vecs[pos : pos + len(cs)]
            sims.append(float((block @ g).max()))
            pos += len(cs)
        return sims
