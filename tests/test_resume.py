"""Kill a build mid-generation with SIGKILL, run it again, and check that it resumed.

The build runs as the real CLI in a subprocess against the local OpenAI-compatible server
(tests/llm_server.py), which logs every request and whether its whole response went out.
After the second run: every input row is either exported or rejected, once; and no item
whose reply the first run had stored was asked for again. The only replies the server may
send twice are those the killed build received but had not yet committed (in flight in the
client at the moment of the kill): each reply is committed the moment it arrives, so those
are at most `concurrency` items, all answered just before the kill.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from llm_server import LLMServer, RecordedRequest

from kgsynth.export import read_dataset
from kgsynth.export.hub import data_file

REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "KGSYNTH_TEST_RESUME_KEY"
API_KEY = "sk-kgsynth-resume-S3CRET-51c0ffee"
MODEL = "resume-test-model"
LIMIT = 1273  # all of MedQA: ~17 rows single out gold (clue rule off) and reach generation
CONCURRENCY = 2
KILL_AFTER = 8  # replies served before the kill


def _build_cmd(medqa: Path, out: Path, cache: Path, config: Path, base_url: str) -> list[str]:
    return [
        sys.executable, "-m", "kgsynth.cli", "build",
        "--qa", str(medqa), "--kg", "hpo", "--limit", str(LIMIT),
        "--out", str(out), "--cache-dir", str(cache), "--config", str(config),
        "--generator", "openai", "--base-url", base_url, "--model", MODEL,
        "--api-key-env", KEY_ENV,
    ]  # fmt: skip


def _ok(reqs: list[RecordedRequest]) -> list[RecordedRequest]:
    """Requests whose whole 200 response went out: the server did the work."""
    return [q for q in reqs if q.status == 200 and q.completed]


def _cached_response_ids(cache: Path) -> set[str]:
    db = sqlite3.connect(cache / "llm" / "responses.sqlite")
    try:
        return {rid for (rid,) in db.execute("SELECT response_id FROM responses") if rid}
    finally:
        db.close()


@pytest.fixture
def server():
    with LLMServer(api_key=API_KEY) as srv:
        yield srv


def test_sigkill_mid_build_then_rerun_resumes(
    server: LLMServer, medqa_path: Path, cache_dir: Path, tmp_path: Path
):
    out = tmp_path / "out"
    config = tmp_path / "build.toml"
    # the thinking-path step alone: the MedReason chain steps are covered in test_chain_http
    config.write_text(
        f"[llm]\nconcurrency = {CONCURRENCY}\nmax_retries = 2\ntimeout_s = 30\n"
        "[chain]\nextract_entities = false\nprune_paths = false\nquality_filter = false\n"
        # the test server's canned sentences are no KG claims (test_claims covers them)
        "[verify.claims]\nenabled = false\n"
        # the LLM response cache is what resumes here: shards finished before the kill are
        # not taken whole from the shard cache (tests/test_shard_cache.py covers that)
        "[run]\ncache_results = false\n"
        # more rows reach generation without the clue rule (MedQA on hpo keeps ~5 with it):
        # the resume needs replies in flight at the kill, not rows a physician would sign
        "[evidence]\ncommon_findings = []\nmin_clue_weight = 0.0\n"
    )
    cmd = _build_cmd(medqa_path, out, cache_dir, config, server.base_url)
    env = os.environ | {KEY_ENV: API_KEY, "NO_PROXY": "127.0.0.1,localhost"}
    env["no_proxy"] = env["NO_PROXY"]
    log1 = (tmp_path / "run1.log").open("wb")

    # run 1: slow replies, killed (with its Prefect server: the whole process group) once
    # some of them have been served
    server.delay_s = 0.25
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=log1, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 150
    try:
        while server.stats()["ok"] < KILL_AFTER:
            assert proc.poll() is None, (tmp_path / "run1.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the build never reached generation"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait()
        log1.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / data_file()).exists()  # it died mid-run, before export
    time.sleep(0.3)  # let handler threads that were mid-reply finish their bookkeeping
    run1 = list(server.chat_requests)
    cached = _cached_response_ids(cache_dir)
    stored = [q for q in _ok(run1) if q.response_id in cached]
    lost = [q for q in _ok(run1) if q.response_id not in cached]
    assert len(stored) >= KILL_AFTER - CONCURRENCY
    # a reply is lost only if it was still in the client, uncommitted, at the kill
    assert len(lost) <= CONCURRENCY
    assert all(q.ended >= killed_at - 2.0 for q in lost), [killed_at - q.ended for q in lost]

    # run 2: to completion
    server.reset()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=150)
    assert done.returncode == 0, done.stdout.decode()[-3000:] + done.stderr.decode()[-3000:]
    run2 = list(server.chat_requests)

    # no duplicate or missing rows
    data = read_dataset(out)
    rejects = pl.read_parquet(out / "rejects.parquet")
    assert data["id"].n_unique() == data.height and rejects["id"].n_unique() == rejects.height
    assert set(data["id"]).isdisjoint(set(rejects["id"]))
    assert data.height + rejects.height == LIMIT
    summary = json.loads((out / "build.json").read_text())
    assert summary["exported"] + summary["rejected"] == LIMIT
    assert not rejects.filter(pl.col("stage") == "generate").height  # every item got a reply

    # no repeated call for an item already finished; each item answered once in all, but
    # for the replies lost in flight
    stored_prompts = {q.prompt for q in stored}
    asked_again = [q.prompt for q in run2]
    assert stored_prompts.isdisjoint(asked_again)
    assert len(asked_again) == len(set(asked_again))  # no retries were needed either
    answered = [q.prompt for q in _ok(run1) + _ok(run2)]
    repeated = {p for p in answered if answered.count(p) > 1}
    assert repeated <= {q.prompt for q in lost}
    # every item that reached generation was answered; run 2 took the rest from the cache
    n_items = summary["counts"]["paths"]
    assert len(set(answered)) == n_items
    usage = summary["llm_usage"]["total"]
    assert usage["cache_hits"] == len(stored) and usage["requests"] == len(run2)
    assert usage["cache_hits"] + usage["responses"] == n_items
