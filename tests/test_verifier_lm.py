"""Likelihood verifier on a tiny causal LM: random weights from a config and a tokenizer
trained here, saved to a folder and loaded back through `LikelihoodVerifier.load`, so nothing
is downloaded and the real loader path runs.

What must hold: batched scores equal one-sequence-at-a-time scores (fp32, 1e-4) whatever the
padding side, bucket order, budget or input order; the out-of-memory back-off splits batches
and changes no result; repeated runs are identical; the pass rule is gold first by a margin.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_models import tiny_causal_lm

from kgsynth.errors import ConfigError
from kgsynth.records import (
    GeneratedQA,
    Generation,
    LinkedQA,
    PathedQA,
    QARecord,
)
from kgsynth.verify.likelihood import (
    LikelihoodVerifier,
    LikelihoodVerifierConfig,
    OptionScores,
    rank_and_margin,
)
from kgsynth.verify.lm_batches import Encoded, length_order, shape_of, take
from kgsynth.verify.lm_pack import attention_bias, pack
from kgsynth.verify.lm_prompt import ScoreRow, from_generated, gold_letter, prompt_text

TOL = 1e-4
SENTENCES = [
    "A 23-year-old tall man has long slender fingers and a dislocated lens.",
    "Marfan syndrome has arachnodactyly among its clinical features.",
    "Ectopia lentis is typical of Marfan syndrome and homocystinuria.",
    "Which of the following eye findings is most likely in this patient?",
    "The aortic root is dilated and the mitral valve prolapses.",
    "Cataract, glaucoma, ptosis and retinal detachment are other eye findings.",
    "Question: Options: Reasoning: Answer: A B C D E",
]
OPTIONS = {
    "A": "Ectopia lentis",
    "B": "Cataract",
    "C": "Open-angle glaucoma with raised intraocular pressure",
    "D": "Ptosis",
    "E": "Retinal detachment",
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"), SENTENCES)


@pytest.fixture(scope="module")
def verifier(model_dir: Path) -> LikelihoodVerifier:
    return LikelihoodVerifier.load(LikelihoodVerifierConfig(model_path=model_dir, device="cpu"))


def with_cfg(v: LikelihoodVerifier, **kw) -> LikelihoodVerifier:
    """Same model and tokenizer, another config (no reload)."""
    return LikelihoodVerifier(v.model, v.tok, v.cfg.model_copy(update=kw))


def make_rows(n: int, seed: int = 0) -> list[ScoreRow]:
    """Rows of varied prompt lengths, option counts and gold letters."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = rng.choice([4, 5])
        opts = dict(list(OPTIONS.items())[:k])
        question = " ".join(rng.choices(SENTENCES[:6], k=rng.randint(1, 4)))
        reasoning = " ".join(rng.choices(SENTENCES[:6], k=rng.randint(0, 6)))
        rows.append(
            ScoreRow(
                id=f"r{i}",
                question=question,
                options=opts,
                gold=rng.choice(list(opts)),
                reasoning=reasoning,
            )
        )
    return rows


def assert_same(a: list[OptionScores], b: list[OptionScores], tol: float = TOL) -> None:
    assert [r.id for r in a] == [r.id for r in b]
    for x, y in zip(a, b, strict=True):
        assert (x.skipped, x.gold) == (y.skipped, y.gold)
        assert [o.letter for o in x.options] == [o.letter for o in y.options]
        for o, p in zip(x.options, y.options, strict=True):
            assert (o.letter_tokens, o.text_tokens) == (p.letter_tokens, p.text_tokens)
            assert o.letter_logprob == pytest.approx(p.letter_logprob, abs=tol)
            assert o.text_logprob == pytest.approx(p.text_logprob, abs=tol)
            assert o.score == pytest.approx(p.score, abs=tol)
        if x.margin is not None:
            assert x.margin == pytest.approx(y.margin, abs=2 * tol)


@pytest.fixture(scope="module")
def rows() -> list[ScoreRow]:
    return make_rows(10)


@pytest.fixture(scope="module")
def reference(verifier: LikelihoodVerifier, rows: list[ScoreRow]) -> list[OptionScores]:
    """Every (row, option) as its own unpadded, uncached sequence."""
    return verifier.score_sequential(rows)


# -- loading ----------------------------------------------------------------------------------
def test_loads_a_saved_folder_on_cpu_fp32(verifier: LikelihoodVerifier) -> None:
    assert verifier.device.type == "cpu" and verifier.dtype == torch.float32
    assert verifier.tok.pad_token == "<pad>"


def test_loader_honours_dtype_and_rejects_bad_paths(model_dir: Path, tmp_path: Path) -> None:
    v = LikelihoodVerifier.load(
        LikelihoodVerifierConfig(model_path=model_dir, device="cpu", dtype="bf16")
    )
    assert v.dtype == torch.bfloat16
    assert v.score(make_rows(2))[0].options  # runs in bf16 too
    with pytest.raises(ConfigError, match="not a local model folder"):
        LikelihoodVerifier.load(LikelihoodVerifierConfig(model_path=tmp_path / "nope"))
    with pytest.raises(ConfigError, match="no model folder"):
        LikelihoodVerifier.load(LikelihoodVerifierConfig())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_requested_without_cuda_is_a_config_error(model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="cuda"):
        LikelihoodVerifier.load(LikelihoodVerifierConfig(model_path=model_dir, device="cuda"))


# -- batched == one at a time ------------------------------------------------------------------
def test_batched_equals_one_at_a_time(verifier, rows, reference) -> None:
    got = verifier.score(rows)
    assert verifier.stats.batches < len(rows)  # really batched
    assert verifier.stats.prefix_slots > verifier.stats.prefix_tokens  # and really padded
    assert verifier.stats.cont_slots > verifier.stats.cont_tokens
    assert_same(got, reference)
    assert [r.best for r in got] == [r.best for r in reference]


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("longest_first", [True, False])
def test_padding_side_and_bucket_order_change_nothing(
    verifier, rows, reference, padding_side, longest_first
) -> None:
    v = with_cfg(verifier, padding_side=padding_side, longest_first=longest_first)
    assert_same(v.score(rows), reference)


@pytest.mark.parametrize("budget", [1, 500, 2000])
def test_budget_and_input_order_change_nothing(verifier, rows, reference, budget) -> None:
    v = with_cfg(verifier, max_batch_tokens=budget)
    order = list(range(len(rows)))
    random.Random(budget).shuffle(order)
    got = v.score([rows[i] for i in order])
    back = {r.id: r for r in got}
    assert_same([back[r.id] for r in rows], reference)
    if budget == 1:
        assert v.stats.batches == len(rows)  # a row too large for the budget runs alone


def test_row_cap_batch_size(verifier, rows, reference) -> None:
    v = with_cfg(verifier, batch_size=3)
    assert_same(v.score(rows), reference)
    assert v.stats.batches == -(-len(rows) // 3)


# -- out-of-memory back-off -------------------------------------------------------------------
def test_oom_in_the_forward_halves_and_retries(verifier, rows, reference) -> None:
    v = with_cfg(verifier, max_batch_tokens=100_000)  # all rows in the first batch
    seen: list[tuple[str, tuple[int, ...]]] = []

    def oom(phase: str, shape: tuple[int, ...]) -> bool:
        seen.append((phase, shape))
        return phase == "batch" and shape[0] > 2  # pretend only 2 rows fit

    v.simulate_oom = oom
    got = v.score(rows)
    assert v.stats.oom_backoffs >= 2  # 10 rows -> ~5 -> ~2
    assert seen[0] == ("batch", (len(rows), seen[0][1][1]))
    done = [s for p, s in seen if p == "batch" and s[0] <= 2]
    assert sum(s[0] for s in done) == len(rows)  # every row ran exactly once
    assert_same(got, reference)


def test_oom_in_the_logprob_step_halves_and_retries(verifier, rows, reference) -> None:
    v = with_cfg(verifier, max_batch_tokens=100_000)
    v.simulate_oom = lambda phase, shape: phase == "logprobs" and shape[0] > 4
    got = v.score(rows)
    assert v.stats.oom_backoffs >= 1
    assert_same(got, reference)
    # the halved budget stays for the next call: no new back-off
    v.score(rows)
    assert v.stats.oom_backoffs == 0


def test_oom_on_a_single_row_is_raised(verifier, rows) -> None:
    v = with_cfg(verifier)
    v.simulate_oom = lambda phase, shape: True
    with pytest.raises(torch.cuda.OutOfMemoryError, match="simulated"):
        v.score(rows[:3])
    assert v.stats.oom_backoffs >= 1


# -- determinism -------------------------------------------------------------------------------
def test_repeated_runs_are_identical(verifier, model_dir, rows) -> None:
    first = verifier.score(rows)
    again = verifier.score(rows)
    fresh = LikelihoodVerifier.load(
        LikelihoodVerifierConfig(model_path=model_dir, device="cpu")
    ).score(rows)
    assert [r.model_dump() for r in first] == [r.model_dump() for r in again]
    assert [r.model_dump() for r in first] == [r.model_dump() for r in fresh]


# -- scores, margin and the pass rule ---------------------------------------------------------
def test_rank_and_margin_rule() -> None:
    assert rank_and_margin({"A": -1.0, "B": -2.0, "C": -3.0}, "A", 0.5) == ("A", 1, 1.0, True)
    assert rank_and_margin({"A": -1.0, "B": -1.2}, "A", 0.5)[3] is False  # margin too small
    assert rank_and_margin({"A": -2.0, "B": -1.0, "C": -3.0}, "A", 0.0) == ("B", 2, -1.0, False)
    best, rank, margin, passed = rank_and_margin({"A": -1.0, "B": -1.0}, "A", 0.0)
    assert (rank, margin, passed) == (2, 0.0, False)  # a tie is not a win
    assert best == "B"


@pytest.mark.parametrize("kind", ["letter", "text", "both"])
def test_scores_and_verdicts_follow_the_config(verifier, rows, kind) -> None:
    margins = [r.margin for r in with_cfg(verifier, score=kind).score(rows)]
    m = sorted(x for x in margins if x > 0)[0] + 1e-6 if any(x > 0 for x in margins) else 0.0
    v = with_cfg(verifier, score=kind, margin=m)
    for r in v.score(rows):
        for o in r.options:
            letter = o.letter_logprob / o.letter_tokens
            assert o.text_mean == pytest.approx(o.text_logprob / o.text_tokens)
            want = {"letter": letter, "text": o.text_mean, "both": (letter + o.text_mean) / 2}
            assert o.score == pytest.approx(want[kind])
        scores = {o.letter: o.score for o in r.options}
        assert r.best == max(scores, key=scores.get)
        assert r.margin == pytest.approx(
            scores[r.gold] - max(s for k, s in scores.items() if k != r.gold)
        )
        assert r.passed == (r.rank == 1 and r.margin >= m)


def test_rows_that_cannot_be_scored(verifier) -> None:
    base = make_rows(1)[0]
    free_text = ScoreRow(id="f", question="q?", options={}, gold=None, reasoning="r")
    no_gold = ScoreRow(id="g", question="q?", options=OPTIONS, gold=None, reasoning="r")
    huge = ScoreRow(
        id="h", question=" ".join(SENTENCES * 60), options=OPTIONS, gold="A", reasoning=""
    )
    got = {r.id: r for r in verifier.score([free_text, no_gold, huge, base])}
    assert (got["f"].skipped, got["f"].passed) == ("no_options", True)
    assert (got["g"].skipped, got["g"].passed) == ("gold_unknown", False)
    assert (got["h"].skipped, got["h"].passed) == ("too_long", False)
    assert got[base.id].skipped is None and got[base.id].rank is not None
    assert verifier.score([]) == []


# -- prompt and rows ---------------------------------------------------------------------------
def test_generated_rows_are_read_without_their_conclusion(verifier) -> None:
    qa = QARecord(
        id="q1",
        source="medqa",
        question=SENTENCES[0] + " " + SENTENCES[3],
        options=dict(list(OPTIONS.items())[:4]),
        answer="Ectopia lentis",
        answer_idx=None,  # resolved from the answer text
    )
    reasoning = (
        "Finding reasoning paths:\n1. Arachnodactyly <-[has_phenotype]- Marfan syndrome\n"
        "Reasoning Process:\n1. " + SENTENCES[1] + "\nConclusion:\nThe answer is A."
    )
    item = GeneratedQA(
        pathed=PathedQA(
            linked=LinkedQA(qa=qa, question_entities=[], answer_entities=[]),
            paths=[],
            n_paths_found=0,
        ),
        generation=Generation(
            reasoning=reasoning,
            conclusion="The answer is A.",
            generator="offline",
            model="m",
            prompt_version="v",
        ),
    )
    row = from_generated(item)
    assert row.gold == "A"
    text = prompt_text(row)
    assert "Conclusion" not in text and "The answer is" not in text
    assert text.endswith("Answer:") and SENTENCES[1] in text
    got = verifier.score([item])[0]
    assert got.id == "q1" and got.gold == "A" and len(got.options) == 4
    assert_same([got], verifier.score_sequential([row]))


def test_gold_letter_resolution() -> None:
    assert gold_letter(OPTIONS, "B", "whatever") == "B"
    assert gold_letter(OPTIONS, None, "ectopia lentis") == "A"
    assert gold_letter(OPTIONS, "Z", "nothing like it") is None


def test_continuations_get_their_in_context_tokens(verifier) -> None:
    enc, _ = verifier._encode(make_rows(1))
    first = enc[0]
    # byte-level BPE: " A" after the cue is one "ĠA" token, not a space and a letter
    assert verifier.tok.convert_ids_to_tokens(first.conts[0]) == ["ĠA"]
    assert first.prefix == verifier.tok(prompt_text(make_rows(1)[0]))["input_ids"]


# -- the bucketing plan ------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    lens=st.lists(
        st.tuples(st.integers(2, 300), st.lists(st.integers(1, 9), min_size=1, max_size=6)),
        min_size=1,
        max_size=30,
    ),
    budget=st.integers(1, 20000),
    cap=st.one_of(st.none(), st.integers(1, 8)),
    longest_first=st.booleans(),
)
def test_plan_covers_every_row_once_within_budget(lens, budget, cap, longest_first) -> None:
    encs = [
        Encoded(index=i, prefix=[1] * p, conts=[[2] * c for c in cs])
        for i, (p, cs) in enumerate(lens)
    ]
    queue = length_order(encs, longest_first=longest_first)
    feds = [e.fed for e in queue]
    assert feds == sorted(feds, reverse=longest_first)
    start, seen = 0, []
    while start < len(queue):
        n = take(queue, start, max_tokens=budget, max_rows=cap)
        batch = queue[start : start + n]
        assert n == 1 or shape_of(batch).tokens <= budget
        assert cap is None or n <= cap
        seen += [e.index for e in batch]
        start += n
    assert sorted(seen) == list(range(len(encs)))


def test_packed_mask_shows_each_continuation_the_prompt_and_itself() -> None:
    # row 0: prompt [10, 11, 12] (fed 2), continuations [20] and [21, 22]; row 1 is longer
    short = Encoded(index=0, prefix=[10, 11, 12], conts=[[20], [21, 22]])
    long = Encoded(index=1, prefix=[1, 2, 3, 4, 5], conts=[[6]])
    batch = [long, short]
    packed = pack(batch, shape_of(batch), pad_id=0, padding_side="left")
    # columns: prompt region (4) | continuation region (3)
    assert packed.input_ids[1].tolist() == [0, 0, 10, 11, 12, 12, 21]  # pads, prompt, segs
    assert packed.position_ids[1].tolist() == [0, 0, 0, 1, 2, 2, 3]
    assert packed.targets[1].tolist() == [20, 21, 22]
    visible = attention_bias(packed, torch.float32, torch.device("cpu"))[1, 0] == 0
    rows = {col: set(torch.nonzero(visible[col]).flatten().tolist()) for col in range(2, 7)}
    assert rows == {
        2: {2},  # first prompt token: itself
        3: {2, 3},
        4: {2, 3, 4},  # segment 0 ([12] predicts 20): the prompt and itself
        5: {2, 3, 5},  # segment 1, first token: the prompt, not segment 0
        6: {2, 3, 5, 6},
    }
    assert not visible[2:, :2].any()  # no real token sees a pad
