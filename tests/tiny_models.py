"""Tiny Hugging Face models for tests: random weights from a config and a tokenizer trained
here on the given text, saved to a folder, so the real `from_pretrained` loaders run and
nothing is downloaded."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    BertConfig,
    BertModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)


def bpe_tokenizer(texts: Iterable[str], vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A byte-level BPE (GPT-2/Qwen style): any text encodes, trained words in few tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")


def tiny_causal_lm(
    out: Path, texts: Iterable[str], vocab_size: int = 400, max_positions: int = 1024
) -> Path:
    """A 2-layer Llama-shape causal LM folder."""
    tok = bpe_tokenizer(texts, vocab_size)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def tiny_encoder(out: Path, texts: Iterable[str], vocab_size: int = 400) -> Path:
    """A 2-layer BERT-shape encoder folder (for the embedding answer matcher)."""
    tok = bpe_tokenizer(texts, vocab_size)
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
    )
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out
