"""Likelihood verifier throughput: batched (prefix-shared, length-bucketed) vs one at a time.

Rows are MedQA-length: each MedQA test question with its five options and gold letter, read
at run time from ../shared/data/qa/medqa_usmle_test.jsonl (nothing from it is stored here),
plus a synthetic reasoning of 150-350 words (uniform, seeded) made of sentences from other
MedQA questions, laid out as a "Reasoning Process:" list. Without the file, rows are drawn
from random words with MedQA's length statistics (question 120 +- 48 words, options 3.5).

Model: random weights from a config, tokenizer a byte-level BPE (8k) trained here on the
rows' text; no download. Three ways to score the same rows:
  - batched: `LikelihoodVerifier.score` (auto budget);
  - row at a time: the same engine with batch_size=1 (prefix still shared by the options);
  - one at a time: `score_sequential`, every (row, option) as its own full sequence, which is
    what a plain loop over `model(prompt + option)` does. Speed-ups are against this one.
The slower two run on a subset (--seq-rows) and are reported as rows/s.

MFU = model FLOPs of the real (unpadded) tokens / seconds / peak. FLOPs per token: 2 x the
matmul parameters of the layers, plus attention 4 x heads x head_dim x context per layer,
plus 2 x hidden x vocab where a logit is computed. Batched counts the prompt once per row;
one-at-a-time counts what it executes (the prompt once per continuation). Peak: CPU, the
best fp32 GEMM rate torch reaches here (4096 x 4096, all threads: the machine's practical
peak, stated in the output); GPU, the vendor's dense bf16 figure for the named device.

Usage: python bench/verifier.py [--rows 200] [--seq-rows 20]        # CPU, tiny model
       python bench/verifier.py --gpu [--rows 2000] [--seq-rows 100]  # ~0.5B Qwen2-like, bf16
Writes its section ("cpu" or "gpu") of bench/results/verifier.json and prints the file's
content as one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from tiny_models import bpe_tokenizer  # noqa: E402

from kgsynth.verify.likelihood import (  # noqa: E402
    LikelihoodVerifier,
    LikelihoodVerifierConfig,
    OptionScores,
)
from kgsynth.verify.lm_prompt import ScoreRow, prompt_text  # noqa: E402

MEDQA = REPO.parent / "shared" / "data" / "qa" / "medqa_usmle_test.jsonl"
RESULTS = REPO / "bench" / "results" / "verifier.json"
TARGETS = {"gpu_speedup_vs_one_at_a_time": 20.0, "gpu_mfu": 0.35}

# Dense bf16 tensor-core peaks (TFLOPS, no sparsity), matched in order on the device name.
GPU_BF16_PEAK = [
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H200", 989.0),
    ("H800", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10", 125.0),
]

TINY = dict(
    hidden_size=256,
    intermediate_size=704,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
)
HALF_B = dict(  # Qwen2-0.5B's shape
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    vocab_size=151936,
    tie_word_embeddings=True,
    rope_theta=1_000_000.0,
)


# -- rows -------------------------------------------------------------------------------------
def medqa_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def synthetic_medqa(n: int, rng: random.Random) -> list[dict]:
    words = [f"w{i}" for i in range(3000)]
    out = []
    for _ in range(n):
        q = " ".join(rng.choices(words, k=max(11, int(rng.gauss(120, 48))))) + "?"
        opts = {k: " ".join(rng.choices(words, k=rng.randint(1, 6))) for k in "ABCDE"}
        out.append({"question": q, "options": opts, "answer_idx": rng.choice("ABCDE")})
    return out


def make_rows(n: int, qa_path: Path, seed: int = 0) -> tuple[list[ScoreRow], str]:
    rng = random.Random(seed)
    if qa_path.is_file():
        src, source = medqa_rows(qa_path), f"MedQA test questions ({qa_path.name})"
    else:
        src, source = synthetic_medqa(max(n, 100), rng), "synthetic (MedQA length statistics)"
    sentences = [s for r in src for s in re.split(r"(?<=[.?!])\s+", r["question"]) if s]
    rows = []
    for i in range(n):
        r = src[i % len(src)]
        target, steps, words = rng.randint(150, 350), [], 0
        while words < target:
            s = rng.choice(sentences)
            steps.append(s)
            words += len(s.split())
        reasoning = "Reasoning Process:\n" + "\n".join(f"{j}. {s}" for j, s in enumerate(steps, 1))
        rows.append(
            ScoreRow(
                id=str(i),
                question=r["question"],
                options=dict(r["options"]),
                gold=r["answer_idx"],
                reasoning=reasoning,
            )
        )
    return rows, source


# -- model and FLOPs --------------------------------------------------------------------------
def build_model(shape: dict, vocab: int, dtype: torch.dtype, device: torch.device):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    kw = {"vocab_size": vocab, **shape}
    cfg = Qwen2Config(max_position_embeddings=32768, **kw)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(cfg)
    return model.to(dtype).eval()


class FlopModel:
    def __init__(self, cfg) -> None:
        h, heads = cfg.hidden_size, cfg.num_attention_heads
        kv = cfg.num_key_value_heads
        hd = getattr(cfg, "head_dim", None) or h // heads
        self.layers = cfg.num_hidden_layers
        self.attn_width = heads * hd
        attn = 2 * h * heads * hd + 2 * h * kv * hd  # q and o, k and v
        per_layer = attn + 3 * h * cfg.intermediate_size  # gate, up, down
        self.matmul_params = self.layers * per_layer
        self.head = h * cfg.vocab_size

    def tokens(self, n: int, ctx_first: int) -> float:
        """n tokens at contexts ctx_first .. ctx_first + n - 1 (each sees itself too)."""
        ctx_sum = n * ctx_first + n * (n - 1) / 2
        return 2.0 * self.matmul_params * n + 4.0 * self.layers * self.attn_width * ctx_sum

    def batched(self, encs) -> float:
        """Packed rows: the prompt once, each continuation segment after it, one logit per
        segment token."""
        total = 0.0
        for e in encs:
            total += self.tokens(e.fed, 1)
            for c in e.conts:
                total += self.tokens(len(c), e.fed + 1) + 2.0 * self.head * len(c)
        return total

    def one_at_a_time(self, encs) -> float:
        total = 0.0
        for e in encs:
            for c in e.conts:
                total += self.tokens(len(e.prefix) + len(c), 1) + 2.0 * self.head * (len(c) + 1)
        return total


def cpu_peak_tflops() -> float:
    a = torch.randn(4096, 4096)
    b = torch.randn(4096, 4096)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * 4096**3 / best / 1e12


def gpu_peak_tflops(name: str) -> tuple[float, str]:
    for key, peak in GPU_BF16_PEAK:
        if key in name:
            return peak, f"vendor dense bf16 peak for {key}"
    # unknown card: measure a large bf16 GEMM instead, and say so
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    torch.mm(a, a)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(10):
        torch.mm(a, a)
    torch.cuda.synchronize()
    return 2 * 8192**3 * 10 / (time.perf_counter() - t0) / 1e12, "measured bf16 GEMM (unknown card)"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


# -- runs -------------------------------------------------------------------------------------
def timed(fn, rows, repeat: int) -> tuple[list[OptionScores], float]:
    """Best of `repeat` runs: a shared machine only ever makes a run slower."""
    best, out = float("inf"), []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(rows)
        best = min(best, time.perf_counter() - t0)
    return out, best


def max_diff(a: list[OptionScores], b: list[OptionScores]) -> float:
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        for o, p in zip(x.options, y.options, strict=True):
            worst = max(worst, abs(o.letter_logprob - p.letter_logprob))
            worst = max(worst, abs(o.text_logprob - p.text_logprob))
    return worst


def run(args: argparse.Namespace) -> dict:
    gpu = args.gpu
    if gpu and not torch.cuda.is_available():
        raise SystemExit("--gpu: no CUDA device")
    device = torch.device("cuda" if gpu else "cpu")
    dtype = torch.bfloat16 if gpu else torch.float32
    rows, source = make_rows(args.rows, args.qa)
    # byte-level BPE trained on the rows themselves (no download), as the tests build theirs
    tok = bpe_tokenizer((prompt_text(r) for r in rows), vocab_size=8000)
    shape = HALF_B if gpu else TINY
    vocab = shape.get("vocab_size", len(tok))
    model = build_model({k: v for k, v in shape.items() if k != "vocab_size"}, vocab, dtype, device)
    cfg = LikelihoodVerifierConfig(device=device.type)  # model passed in, not loaded
    verifier = LikelihoodVerifier(model, tok, cfg)
    flops = FlopModel(model.config)
    encs, _ = verifier._encode(rows)
    # the slow baselines' rows: evenly spaced in prompt length, so their mean length is the
    # full set's and rows/s compare
    by_len = sorted(encs, key=lambda e: (len(e.prefix), e.index))
    step = len(by_len) / args.seq_rows
    sub_idx = sorted(by_len[int(i * step)].index for i in range(args.seq_rows))
    sub = [rows[i] for i in sub_idx]
    sub_encs = [e for e in encs if e.index in set(sub_idx)]

    if gpu:
        device_name = torch.cuda.get_device_name(device)
        peak, peak_src = gpu_peak_tflops(device_name)
    else:
        device_name = f"{cpu_name()} ({torch.get_num_threads()} threads)"
        # measured before and after the runs, the best kept: on a shared machine a
        # contended GEMM would understate the peak and so overstate the MFU
        cpu_peaks = [cpu_peak_tflops()]
        peak, peak_src = cpu_peaks[0], "measured fp32 GEMM 4096x4096, best of 5, here"
    f_batched = flops.batched(encs)
    f_sub_useful = flops.batched(sub_encs)
    f_seq = flops.one_at_a_time(sub_encs)

    def mfu(f: float, t: float) -> float:
        return round(f / t / (peak * 1e12), 4)

    def batched_run(v: LikelihoodVerifier) -> tuple[list[OptionScores], dict]:
        t0 = time.perf_counter()
        v.score(rows[: min(len(rows), 64)])  # warm-up: kernels, allocator, the budget
        warm = time.perf_counter() - t0
        out, t = timed(v.score, rows, args.repeat)
        st = v.stats
        slots, real = st.prefix_slots + st.cont_slots, st.prefix_tokens + st.cont_tokens
        return out, {
            "rows_per_s": round(len(rows) / t, 2),
            "seconds": round(t, 3),
            "tokenize_seconds": round(st.encode_seconds, 3),
            "warmup_seconds": round(warm, 2),
            "batches": st.batches,
            "oom_backoffs": st.oom_backoffs,
            "padding_overhead": round(slots / real - 1, 4),
            "model_tflop": round(f_batched / 1e12, 4),
            "achieved_tflops": round(f_batched / t / 1e12, 4),
        }

    def with_mfu(b: dict) -> dict:  # once the peak is final
        t, tok_s = b["seconds"], b["tokenize_seconds"]
        return {
            **b,
            "mfu": mfu(f_batched, t),
            "mfu_excluding_tokenization": mfu(f_batched, t - tok_s),
        }

    batched, b_eager = batched_run(verifier)
    b_compiled = None
    if args.compile:
        compiled = LikelihoodVerifier(model, tok, cfg.model_copy(update={"compile": True}))
        _, b_compiled = batched_run(compiled)
    row_v = LikelihoodVerifier(model, tok, cfg.model_copy(update={"batch_size": 1}))
    row_v.score(sub[:2])
    _, t_row = timed(row_v.score, sub, args.repeat)
    seq, t_seq = timed(verifier.score_sequential, sub, args.repeat)

    rps = {"row": len(sub) / t_row, "seq": len(sub) / t_seq}
    if not gpu:
        cpu_peaks.append(cpu_peak_tflops())
        peak = max(cpu_peaks)
        peak_src += f" (before/after the runs: {[round(x, 3) for x in cpu_peaks]} TFLOPS)"

    b_eager = with_mfu(b_eager)
    b_compiled = with_mfu(b_compiled) if b_compiled else None

    def speedups(b: dict) -> dict:
        return {
            "speedup_vs_one_at_a_time": round(b["rows_per_s"] / rps["seq"], 2),
            "speedup_vs_row_at_a_time": round(b["rows_per_s"] / rps["row"], 2),
        }

    n_params = sum(p.numel() for p in model.parameters())
    return {
        "device": device_name,
        "dtype": str(dtype).removeprefix("torch."),
        "model": {
            "arch": "Qwen2ForCausalLM (random weights)",
            **{k: v for k, v in shape.items() if k != "tie_word_embeddings"},
            "vocab_size": vocab,
            "params": n_params,
            "attn_implementation": model.config._attn_implementation,
        },
        "rows": len(rows),
        "timing": f"best of {args.repeat} runs per mode, after a warm-up",
        "rows_source": source,
        "avg_prompt_tokens": round(sum(len(e.prefix) for e in encs) / len(encs), 1),
        "avg_prompt_tokens_baseline_rows": round(
            sum(len(e.prefix) for e in sub_encs) / len(sub_encs), 1
        ),
        "continuations_per_row": round(sum(len(e.conts) for e in encs) / len(encs), 2),
        "peak_tflops": round(peak, 3),
        "peak_source": peak_src,
        "batched": {**b_eager, **speedups(b_eager)},
        "batched_compiled": (
            {**b_compiled, **speedups(b_compiled)} if b_compiled else "not run (--compile)"
        ),
        "row_at_a_time": {
            "rows": len(sub),
            "rows_per_s": round(rps["row"], 2),
            "mfu": mfu(f_sub_useful, t_row),
        },
        "one_at_a_time": {
            "rows": len(sub),
            "rows_per_s": round(rps["seq"], 3),
            "mfu_executed": mfu(f_seq, t_seq),  # the FLOPs it runs (prompt per option)
            "mfu_useful": mfu(f_sub_useful, t_seq),  # the FLOPs the task needs
        },
        "max_abs_logprob_diff_vs_one_at_a_time": max_diff([batched[i] for i in sub_idx], seq),
        "pass_rate": round(sum(r.passed for r in batched) / len(batched), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gpu", action="store_true", help="~0.5B Qwen2-like model, bf16, CUDA")
    ap.add_argument("--rows", type=int, default=None, help="rows scored batched")
    ap.add_argument("--seq-rows", type=int, default=None, help="rows for the slow baselines")
    ap.add_argument("--qa", type=Path, default=MEDQA)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per mode (best kept)")
    ap.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time batched with torch.compile (default: on with --gpu)",
    )
    args = ap.parse_args()
    args.compile = args.gpu if args.compile is None else args.compile
    args.rows = args.rows or (2000 if args.gpu else 200)
    args.seq_rows = min(args.seq_rows or (100 if args.gpu else 20), args.rows)
    section = run(args)
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data["bench"] = "verifier"
    data["targets"] = TARGETS
    data["gpu" if args.gpu else "cpu"] = section
    if args.gpu:
        variants = {"eager": section["batched"], "compiled": section["batched_compiled"]}
        section["meets_targets"] = {
            name: b["speedup_vs_one_at_a_time"] >= TARGETS["gpu_speedup_vs_one_at_a_time"]
            and b["mfu"] >= TARGETS["gpu_mfu"]
            for name, b in variants.items()
            if isinstance(b, dict)
        }
    elif not isinstance(data.get("gpu"), dict) or "device" not in data["gpu"]:
        data["gpu"] = {
            "status": "owed",
            "why": "no GPU was lent to the session that ran the CPU bench",
            "command": "python bench/verifier.py --gpu",
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data))


if __name__ == "__main__":
    main()
