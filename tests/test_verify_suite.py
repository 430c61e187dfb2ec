"""The verifiers inside the build and over an existing dataset.

A build with the likelihood verifier stores every option's scores, gold's rank and margin in
each row and puts the rows that fail in the rejects with the reason; claim counts are in every
row; free-text answers are matched by an embedding model or an LLM judge (a real HTTP server);
`kgsynth verify DATASET` writes the same columns the build writes. Models are tiny, built
here with random weights (tests/tiny_models.py): nothing is downloaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from llm_server import LLMServer
from tiny_models import tiny_causal_lm, tiny_encoder
from typer.testing import CliRunner

from flows.build import build_dataset
from kgsynth.cli import app
from kgsynth.config import (
    DEFAULT_SAMPLE_QA,
    ClaimCheckConfig,
    FreeTextMatchConfig,
    LikelihoodVerifierConfig,
    VerifyConfig,
    load_config,
)
from kgsynth.errors import ConfigError
from kgsynth.export import read_dataset
from kgsynth.export.rows import generated_of
from kgsynth.linking.linker import Linker
from kgsynth.verify.embed import Embedder, answer_candidates
from kgsynth.verify.likelihood import LikelihoodVerifier
from kgsynth.verify.suite import VerifySuite

SAMPLE = DEFAULT_SAMPLE_QA
N_SAMPLE = sum(1 for line in SAMPLE.read_text().splitlines() if line.strip())
API_KEY = "sk-judge-test-41ad"
KEY_ENV = "KGSYNTH_JUDGE_TEST_KEY"


def _texts() -> list[str]:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    return [r["question"] for r in rows] + [t for r in rows for t in r["options"].values()]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # long enough for a sample row's prompt: question + options + reasoning
    out = tmp_path_factory.mktemp("tiny-lm")
    return tiny_causal_lm(out, _texts(), vocab_size=2000, max_positions=4096)


@pytest.fixture(scope="module")
def enc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("tiny-enc"), _texts(), vocab_size=1000)


def _build(out: Path, cache_dir: Path, qa: Path = SAMPLE, **over) -> tuple:
    cfg = load_config(None, {"qa": [qa], "kg": "hpo", "out": out, "cache_dir": cache_dir, **over})
    return build_dataset(cfg), out


@pytest.fixture(scope="module")
def lm_build(tmp_path_factory, cache_dir: Path, lm_dir: Path):
    verify = {"likelihood": {"model_path": lm_dir, "device": "cpu", "margin": 0.05}}
    return _build(tmp_path_factory.mktemp("lm-build"), cache_dir, verify=verify)


def test_likelihood_scores_are_in_every_row(lm_build, lm_dir: Path) -> None:
    _, out = lm_build
    data = read_dataset(out)
    assert data.height > 0
    for row in data.iter_rows(named=True):
        lk = row["likelihood"]
        assert lk is not None and lk["model"] == lm_dir.name
        assert lk["prompt_version"] == "likelihood.v1" and lk["score_kind"] == "both"
        assert [o["letter"] for o in lk["options"]] == [o["letter"] for o in row["options"]]
        scores = {o["letter"]: o["score"] for o in lk["options"]}
        gold = row["answer_idx"]
        # the stored margin is gold's lead over the best other option, and it passed
        best_other = max(s for k, s in scores.items() if k != gold)
        assert lk["margin"] == pytest.approx(scores[gold] - best_other, abs=1e-9)
        assert lk["rank"] == 1 and lk["margin"] >= 0.05 and lk["best"] == gold
        for o in lk["options"]:
            mean = (o["letter_logprob"] / o["letter_tokens"] + o["text_mean"]) / 2
            assert o["score"] == pytest.approx(mean, abs=1e-9)
        assert row["checks"]["likelihood"] is True and row["checks"]["passed"] is True
        assert row["claims"] is not None and row["checks"]["claims"] is True


def test_rows_failing_the_likelihood_verifier_are_rejected_with_the_reason(lm_build) -> None:
    result, out = lm_build
    rejects = pl.read_parquet(out / "rejects.parquet")
    failed = rejects.filter(pl.col("reason").str.contains("likelihood"))
    # random weights: most rows do not put gold first by the margin
    assert failed.height > 0
    for detail in failed["detail"]:
        assert re.search(r"likelihood: gold [A-E] ranked \d+ \(best [A-E]\), margin -?\d", detail)
    assert read_dataset(out).height + rejects.height == N_SAMPLE
    assert result.report.counts["input"] == N_SAMPLE


def test_stored_scores_equal_a_direct_run_of_the_verifier(lm_build, lm_dir: Path) -> None:
    _, out = lm_build
    data = read_dataset(out)
    items = [generated_of(r)[0] for r in data.iter_rows(named=True)]
    direct = LikelihoodVerifier.load(LikelihoodVerifierConfig(model_path=lm_dir, device="cpu"))
    for row, s in zip(data.iter_rows(named=True), direct.score_sequential(items), strict=True):
        stored = {o["letter"]: o for o in row["likelihood"]["options"]}
        for o in s.options:
            assert stored[o.letter]["letter_logprob"] == pytest.approx(o.letter_logprob, abs=1e-4)
            assert stored[o.letter]["text_logprob"] == pytest.approx(o.text_logprob, abs=1e-4)


def test_verify_cli_writes_the_columns_the_build_writes(
    lm_build, tmp_path: Path, cache_dir: Path, lm_dir: Path
) -> None:
    _, with_lm = lm_build
    _, plain = _build(tmp_path / "plain", cache_dir)
    assert read_dataset(plain)["likelihood"].null_count() == read_dataset(plain).height
    res = CliRunner().invoke(
        app,
        [
            "verify",
            str(plain),
            "--out",
            str(tmp_path / "again"),
            "--likelihood-model",
            str(lm_dir),
            "--margin",
            "0.05",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    again, built = read_dataset(tmp_path / "again"), read_dataset(with_lm)
    assert again.columns == built.columns
    assert again.schema == built.schema
    # the same rows pass, with the same verdicts and scores (up to float summation order)
    assert again["id"].to_list() == built["id"].to_list()
    for a, b in zip(again.iter_rows(named=True), built.iter_rows(named=True), strict=True):
        assert a["checks"] == b["checks"] and a["claims"] == b["claims"]
        la, lb = a["likelihood"], b["likelihood"]
        assert (la["rank"], la["best"], la["passed"]) == (lb["rank"], lb["best"], lb["passed"])
        assert la["margin"] == pytest.approx(lb["margin"], abs=1e-4)
        assert a["reasoning"] == b["reasoning"]
    key = ["id", "stage", "reason"]
    rej_a = pl.read_parquet(tmp_path / "again" / "rejects.parquet").select(key).sort("id")
    rej_b = pl.read_parquet(with_lm / "rejects.parquet").select(key).sort("id")
    assert rej_a.equals(rej_b)
    summary = json.loads((tmp_path / "again" / "build.json").read_text())
    assert summary["rows_read"] == summary["kept"] + summary["rejected_now"]
    assert summary["kept"] + len(rej_a) == N_SAMPLE


def test_verify_cli_names_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["verify", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "nope" in res.output and "no such dataset" in res.output


@pytest.fixture(scope="module")
def plain_build(tmp_path_factory, cache_dir: Path) -> Path:
    return _build(tmp_path_factory.mktemp("plain"), cache_dir)[1]


def test_verify_cli_refuses_another_kg_and_foreign_rows(
    plain_build: Path, tmp_path: Path, cache_dir: Path
) -> None:
    kg = tmp_path / "other.csv"
    kg.write_text("head,relation,tail\nA,r1,B\nB,r2,C\n")
    args = ["verify", str(plain_build), "--out", str(tmp_path / "o"), "--cache-dir", str(cache_dir)]
    res = CliRunner().invoke(app, [*args, "--kg", f"triples:{kg}"])
    assert res.exit_code == 2
    assert "rows were built on KG hash" in res.output and str(plain_build) in res.output
    assert not (tmp_path / "o").exists()
    foreign = tmp_path / "foreign.parquet"
    read_dataset(plain_build).drop("paths", "reasoning").write_parquet(foreign)
    res = CliRunner().invoke(app, ["verify", str(foreign), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2
    assert "not kgsynth rows" in res.output and "paths" in res.output


# -- claims -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plain_items(plain_build: Path):
    return [generated_of(r)[0] for r in read_dataset(plain_build).iter_rows(named=True)]


def test_a_false_claim_rejects_the_row(plain_items, hpo_kg, cache_dir: Path) -> None:
    item = next(i for i in plain_items if i.pathed.linked.qa.id == "kgsynth-sample-001")
    linker = Linker(hpo_kg, load_config().linking, cache_dir)
    suite = VerifySuite(hpo_kg, VerifyConfig(), finder=linker)
    (ok,) = suite.run([item])
    report = ok.evidence["claims"]
    assert ok.checks.passed and report.unsupported == 0
    n = report.claims
    # two unbacked pairings among n backed claims: above the 20% default ratio when n < 8
    bad_text = item.generation.reasoning.replace(
        "Conclusion:",
        "Arachnodactyly is a sign of sickle cell anemia. Sickle cell anemia explains the "
        "arachnodactyly.\nConclusion:",
    )
    bad = item.model_copy(
        update={"generation": item.generation.model_copy(update={"reasoning": bad_text})}
    )
    (v,) = suite.run([bad])
    report = v.evidence["claims"]
    assert report.claims == n + 2 and report.unsupported == 2
    strict = VerifySuite(
        hpo_kg, VerifyConfig(claims=ClaimCheckConfig(max_unsupported_ratio=0.0)), finder=linker
    )
    (s,) = strict.run([bad])
    assert s.checks["claims"] is False and s.checks.failed() == ["claims"]
    assert any("unsupported by the KG" in r for r in s.checks.reasons)


def test_claims_need_a_finder(hpo_kg) -> None:
    with pytest.raises(ConfigError, match="claims"):
        VerifySuite(hpo_kg, VerifyConfig())


# -- free-text answers --------------------------------------------------------------------------
def _free_text_qa(tmp: Path) -> Path:
    """The sample's questions without options: gold is free text."""
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    out = tmp / "free_text.jsonl"
    with out.open("w") as f:
        for r in rows:
            f.write(json.dumps({"id": r["id"], "question": r["question"], "answer": r["answer"]}))
            f.write("\n")
    return out


def test_answer_candidates_find_the_answer_phrase() -> None:
    c = answer_candidates("The most likely diagnosis is Marfan syndrome, given the lens.")
    assert "Marfan syndrome" in c and c[0].startswith("The most likely")
    assert answer_candidates("The answer is B: Ptosis.")[-1] == "Ptosis"


def test_embedding_batches_equal_one_at_a_time(enc_dir: Path) -> None:
    emb = Embedder.load(enc_dir, "cpu", batch_size=3)
    texts = ["Marfan syndrome", "ectopia lentis in both eyes", "a", "Down syndrome", "x y z w"]
    together = emb.encode(texts)
    for i, t in enumerate(texts):
        assert (emb.encode([t])[0] - together[i]).abs().max() < 1e-5
    assert emb.best_similarity([("Marfan syndrome", "The answer is Marfan syndrome.")]) == [
        pytest.approx(1.0, abs=1e-5)
    ]


def test_free_text_rows_are_matched_by_embedding(
    tmp_path: Path, cache_dir: Path, enc_dir: Path, plain_items, hpo_kg
) -> None:
    qa = _free_text_qa(tmp_path)
    ft = {"method": "embedding", "model_path": enc_dir, "device": "cpu", "threshold": 0.999}
    result, out = _build(tmp_path / "o", cache_dir, qa=qa, verify={"free_text": ft})
    data = read_dataset(out)
    assert data.height > 0 and data["options"].list.len().max() == 0
    for row in data.iter_rows(named=True):
        assert row["answer_check"]["method"] == "embedding"
        assert row["answer_check"]["similarity"] >= 0.999
    # a conclusion naming another answer falls below the threshold and fails answer_match
    suite = VerifySuite(
        hpo_kg,
        VerifyConfig(free_text=FreeTextMatchConfig(**ft), claims=ClaimCheckConfig(enabled=False)),
    )
    item = plain_items[0]
    qa_free = item.pathed.linked.qa.model_copy(update={"options": {}, "answer_idx": None})
    linked = item.pathed.linked.model_copy(update={"qa": qa_free})
    pathed = item.pathed.model_copy(update={"linked": linked})
    wrong = item.model_copy(
        update={
            "pathed": pathed,
            "generation": item.generation.model_copy(
                update={"conclusion": "The answer is Klinefelter syndrome."}
            ),
        }
    )
    (v,) = suite.run([wrong])
    assert v.checks["answer_match"] is False and "answer similarity" in v.checks.reasons[0]
    match = v.evidence["answer_check"]
    assert match.similarity is not None and match.similarity < 0.999


def test_free_text_rows_are_judged_over_http(tmp_path: Path, cache_dir: Path) -> None:
    qa = _free_text_qa(tmp_path)
    refuse = "kgsynth-sample-002"
    questions = {
        json.loads(line)["question"]: json.loads(line)["id"] for line in qa.read_text().splitlines()
    }

    def judge(prompt: str) -> str:
        qid = next(i for q, i in questions.items() if q in prompt)
        gold = re.search(r"^Correct answer: (.*)$", prompt, re.M).group(1)
        predicted = re.search(r"^Predicted answer: (.*)$", prompt, re.M).group(1)
        return json.dumps({"correct": qid != refuse and gold.lower() in predicted.lower()})

    with LLMServer(api_key=API_KEY, responder=judge) as srv, pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, API_KEY)
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        llm = {"base_url": srv.base_url, "model": "judge-model", "api_key_env": KEY_ENV}
        verify = {"free_text": {"method": "judge"}}
        # the session cache is fine: LLM replies are cached per endpoint (this server's port)
        result, out = _build(
            tmp_path / "o", cache_dir, qa=qa, verify=verify, llm=llm, generator="offline"
        )
        judged = [r for r in srv.chat_requests if "Does the predicted answer mean" in r.prompt]
    data = read_dataset(out)
    rejects = pl.read_parquet(out / "rejects.parquet")
    assert len(judged) == result.report.counts["generate"] > 0
    assert refuse not in set(data["id"])
    row = rejects.filter(pl.col("id") == refuse).row(0, named=True)
    assert row["stage"] == "verify" and row["reason"] == "answer_match"
    assert "judge" in row["detail"]
    for r in data.iter_rows(named=True):
        assert r["answer_check"]["method"] == "judge" and r["generator"] == "offline"
        assert {"step": "verify_judge", "version": "judge.v1"} in r["chain_prompts"]
    assert data.height + rejects.height == N_SAMPLE
    assert API_KEY not in (out / "build.json").read_text()
