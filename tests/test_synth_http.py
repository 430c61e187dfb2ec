"""KG-first synthesis with the questions written over a real OpenAI-compatible server.

The server reads the chain, options and answer letter out of the kg_question prompt and
replies with JSON; one reply names the answer in its question and must become a reject.
"""

from __future__ import annotations

import json
import re
import threading

import polars as pl
from llm_server import LLMServer
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.export import read_dataset

API_KEY = "sk-synth-test-51ab"
KEY_ENV = "KGSYNTH_SYNTH_TEST_KEY"


class QuestionResponder:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def __call__(self, prompt: str) -> str:
        start = re.search(r'The chain starts at the .+? "(.+?)"', prompt).group(1)
        answer = re.search(r'reach in the graph is "(.+?)"\.', prompt).group(1)
        letter = re.search(r"only correct option is ([A-J])\.", prompt).group(1)
        block = prompt.split("with\nthese letters:\n", 1)[1].split("\nInstructions:", 1)[0]
        options = dict(re.findall(r"^([A-J])\. (.+)$", block, re.M))
        with self.lock:
            self.n += 1
            leak = self.n == 1
        question = f"Starting from {start}, which entity do these steps lead to?"
        if leak:
            question += f" (It is {answer}.)"
        return json.dumps({"question": question, "options": options, "answer": letter})


def test_synth_kg_writes_questions_over_http(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv(KEY_ENV, API_KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    responder = QuestionResponder()
    with LLMServer(api_key=API_KEY, responder=responder) as srv:
        args = ["synth-kg", "--kg", "hpo", "--n", "20", "--cache-dir", str(cache_dir)]
        args += ["--generator", "openai", "--base-url", srv.base_url, "--model", "q-model"]
        args += ["--api-key-env", KEY_ENV]
        res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o")])
        assert res.exit_code == 0, res.output
        sent = len(srv.chat_requests)
        again = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o2")])
        assert again.exit_code == 0, again.output
        assert len(srv.chat_requests) == sent  # the second run is served from the cache
    rows = read_dataset(tmp_path / "o")
    rejects = pl.read_parquet(tmp_path / "o" / "rejects.parquet")
    assert rows.height == 20 and set(rows["source"]) == {"kg"}
    assert set(rows["model"]) == {"q-model"} and set(rows["generator"]) == {"openai"}
    assert all(q.startswith("Starting from ") for q in rows["question"])
    mismatch = rejects.filter(pl.col("reason") == "llm_reply_mismatch")
    # the injected leak, plus any chain whose start name contains its answer's name
    assert mismatch.height >= 1
    assert set(mismatch["detail"]) == {"question names the answer"}
    checks = rows["checks"].struct
    assert all(checks.field("answer_unique")) and all(checks.field("distractors_fail_chain"))
    summary = json.loads((tmp_path / "o" / "build.json").read_text())
    assert summary["llm_usage"]["steps"]["kg_question"]["requests"] == sent
    assert API_KEY not in (tmp_path / "o" / "build.json").read_text()
