"""The whole MedReason chain through a real OpenAI-compatible server on localhost.

A MedQA slice is built with every chain step switched on; the server answers each step
deterministically (JSON for the structured steps, the three-part text for the CoT). Checked:
every step is asked, each row records the versions of the steps that shaped it, per-step
requests and tokens reach the dataset card, the quality filter rejects what it should, the
counts add up, and a second run is served from the cache (no new requests).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from llm_server import LLMServer, default_reply

from kgsynth.chain.steps import STEPS
from kgsynth.config import load_config
from kgsynth.export import read_dataset
from kgsynth.llm.prompts import THINKING_PATH
from kgsynth.qa import read_qa

API_KEY = "sk-chain-test-9f2c"
KEY_ENV = "KGSYNTH_CHAIN_TEST_KEY"
MODEL = "chain-test-model"
LIMIT = 1273  # all of MedQA: only ~17 rows single out gold in the KG evidence

MARKERS = {  # a phrase only that step's template holds
    "extract_entities": "List the medical entities",
    "disambiguate": "may refer to one of several",
    "reformulate": "Rewrite the question and its answer",
    "prune_paths": "best explain why the conclusion follows",
    "answer_from_reasoning": "The reasoning stops before its conclusion",
    "judge": "Does the predicted answer mean the same",
}


def step_of(prompt: str) -> str:
    return next((s for s, m in MARKERS.items() if m in prompt), "thinking_path")


class ChainResponder:
    """Deterministic replies per step. The quality step answers with the gold letter, except
    for one question (a wrong letter: must be rejected) and one (free text: goes to the
    judge, which accepts it)."""

    def __init__(self, gold: dict[str, tuple[str, str]]) -> None:
        self.gold = gold  # question text -> (letter, answer text)
        self.lock = threading.Lock()
        self.wrong_for: str | None = None
        self.free_text_for: str | None = None

    def _question(self, prompt: str) -> str | None:
        return next((q for q in self.gold if q in prompt), None)

    def __call__(self, prompt: str) -> str:
        step = step_of(prompt)
        if step == "extract_entities":
            m = re.search(r"\nAnswer:\n(.+?)\n", prompt)
            name = m.group(1).strip() if m else ""
            return json.dumps({"question_entities": [], "answer_entities": [{"name": name}]})
        if step == "disambiguate":
            phrase = re.search(r'Phrase: "(.*)"', prompt).group(1).lower()
            for line in prompt.splitlines():
                if " | " in line and line.split(" | ")[1].rsplit(" (", 1)[0].lower() == phrase:
                    return json.dumps({"choice": line.split(" | ")[0]})
            return json.dumps({"choice": None})
        if step == "reformulate":
            m = re.search(r"\nAnswer:\n(.+?)\n", prompt)
            return json.dumps({"description": "A patient case.", "conclusion": m.group(1)})
        if step == "prune_paths":
            return json.dumps({"keep": [2, 1]})
        if step == "answer_from_reasoning":
            q = self._question(prompt)
            letter, text = self.gold[q]
            with self.lock:
                if self.wrong_for is None:
                    self.wrong_for = q
                elif self.free_text_for is None and q != self.wrong_for:
                    self.free_text_for = q
            if q == self.wrong_for:
                return json.dumps({"answer": "A" if letter != "A" else "B"})  # MedQA: A-E
            if q == self.free_text_for:
                return json.dumps({"answer": f"most likely {text}"})
            return json.dumps({"answer": letter})
        if step == "judge":
            return json.dumps({"correct": True})
        return default_reply(prompt)


@pytest.fixture(scope="module")
def chain_build(medqa_path: Path, cache_dir: Path, tmp_path_factory):
    batch = read_qa([medqa_path], limit=LIMIT)
    gold = {r.question: (r.answer_idx or "", r.answer) for r in batch.records}
    responder = ChainResponder(gold)
    # the session cache: its LLM responses are keyed by endpoint, so this server's are its own
    llm_cache = cache_dir
    from flows.build import build_dataset

    runs = []
    with LLMServer(api_key=API_KEY, responder=responder) as srv, pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, API_KEY)
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        for i in range(2):
            out = tmp_path_factory.mktemp(f"chain-build-{i}")
            cfg = load_config(
                None,
                {
                    "qa": [medqa_path],
                    "kg": "hpo",
                    "out": out,
                    "cache_dir": llm_cache,
                    "limit": LIMIT,
                    "generator": "openai",
                    "llm": {
                        "base_url": srv.base_url,
                        "model": MODEL,
                        "api_key_env": KEY_ENV,
                        "concurrency": 8,
                        "max_retries": 0,
                    },
                    # the test server's canned sentences are no KG claims (test_claims)
                    "verify": {"claims": {"enabled": False}},
                },
            )
            before = len(srv.chat_requests)
            result = build_dataset(cfg)
            runs.append((result, out, list(srv.chat_requests)[before:]))
    return runs, responder


def test_every_chain_step_goes_over_http(chain_build):
    (result, out, reqs), _ = chain_build[0][0], chain_build[1]
    asked = Counter(step_of(r.prompt) for r in reqs)
    for step in [*MARKERS, "thinking_path"]:
        assert asked[step] > 0, f"step {step} was never asked: {dict(asked)}"
    assert all(r.body.get("model") == MODEL for r in reqs)
    usage = result.report.llm_usage
    by_step = usage["steps"] if "steps" in usage else usage
    text = json.dumps(by_step)
    for step in [*MARKERS, "thinking_path"]:
        assert step in text
    card = (out / "README.md").read_text()
    assert "LLM usage" in card and "prune_paths" in card and "answer_from_reasoning" in card


def test_rows_record_the_chain_and_the_filter_rejects(chain_build):
    (result, out, _), responder = chain_build[0][0], chain_build[1]
    rows = read_dataset(out)
    rejects = pl.read_parquet(out / "rejects.parquet")
    assert rows.height > 0
    expected = {s.name: s.version for s in STEPS.values()}
    for chain in rows["chain_prompts"].to_list():
        assert {c["step"]: c["version"] for c in chain} == expected
    assert set(rows["prompt_version"]) == {THINKING_PATH}
    assert rows["checks"].struct.field("quality_filter").to_list() == [True] * rows.height
    quality = rejects.filter(pl.col("reason") == "quality_filter")
    assert quality.height == 1  # the wrong letter; the free-text answer passed the judge
    wrong_id = quality["id"][0]
    assert wrong_id not in rows["id"].to_list()
    report = result.report
    assert report.counts["input"] == LIMIT == rows.height + rejects.height
    assert report.counts["quality"] == report.counts["verify"] - 1
    assert responder.free_text_for is not None


def test_pruned_paths_follow_the_llm_choice(chain_build):
    (_, out, reqs), _ = chain_build[0][0], chain_build[1]
    prunes = [r for r in reqs if step_of(r.prompt) == "prune_paths"]
    assert prunes, "no group had more than k candidate paths"
    rows = read_dataset(out)
    assert rows["paths"].list.len().max() >= 1


def test_second_run_is_served_from_the_cache(chain_build):
    runs, _ = chain_build
    (first, out1, reqs1), (second, out2, reqs2) = runs
    assert reqs1 and reqs2 == []
    a = read_dataset(out1).drop("created_at")
    b = read_dataset(out2).drop("created_at")
    assert a.equals(b)
