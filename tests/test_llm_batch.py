"""Batch mode (`[llm] mode = "batch"`): the OpenAI Batch API behind the same LLM client.

Everything runs against the local OpenAI-compatible server (tests/llm_server.py), which
serves /v1/files and /v1/batches as OpenAI does and answers each batch line with its chat
endpoint's own logic, so a batch build and an online build see the same replies. Checked:
the JSONL lines carry the online request bodies; a batch build exports the online build's
rows; a build SIGKILLed while polling resumes that batch on its re-run (the server counts
batches created); expired and failed lines go out again once, and after that are failures
(rejects at stage llm); a corrupt batch record is discarded with one warning; batch tokens
are priced at the batch price.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from build_digest import dataset_digest
from llm_server import BatchPlan, Fault, LLMServer, RecordedRequest, use_key

from kgsynth.config import DEFAULT_SAMPLE_QA, LLMConfig, ModelPrice, load_config
from kgsynth.errors import LLMAuthError
from kgsynth.export.card import usage_lines
from kgsynth.llm.batch import batch_line, chunks, parse_record, record_name
from kgsynth.llm.cache import ResponseCache, cache_path
from kgsynth.llm.client import LLMClient, Request
from kgsynth.llm.usage import Usage
from kgsynth.stages import Stage

REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "KGSYNTH_TEST_BATCH_KEY"
API_KEY = "sk-kgsynth-batch-S3CRET-0b47"
POLL = {"poll_s": 0.02, "poll_max_s": 0.1}  # a test batch ends after a poll or two
MODEL = "batch-test-model"
N_SAMPLE = 34  # rows of the sample QA; 30 of them reach the thinking path


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    use_key(monkeypatch, KEY_ENV, API_KEY)
    with LLMServer(api_key=API_KEY) as srv:
        yield srv


def llm(srv: LLMServer, **kw: Any) -> dict[str, Any]:
    # a model name of its own per call: no reply of another test is served from a cache
    batch = POLL | kw.pop("batch", {})
    return {
        "base_url": srv.base_url,
        "model": f"batch-{uuid.uuid4().hex[:8]}",
        "api_key_env": KEY_ENV,
        "max_retries": 1,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 10,
        "mode": "batch",
        "batch": batch,
    } | kw


def prompts(n: int) -> list[Request]:
    return [
        Request.user(f"Case {i}: which nerve supplies the deltoid?", tag=f"c{i}") for i in range(n)
    ]


def input_lines(srv: LLMServer, batch_id: str) -> list[dict[str, Any]]:
    return srv.batches[batch_id].lines


def batch_ids(srv: LLMServer) -> list[str]:
    return list(srv.batches)


def records(cache: Path) -> list[Path]:
    return sorted((cache / "llm" / "batches").glob("*.json"))


# -- the client: what goes out and what comes back -----------------------------------------


def test_batch_lines_carry_the_online_bodies_and_replies_match(server: LLMServer, tmp_path):
    settings = llm(server, json_mode="json_schema")
    reqs = prompts(5) + [prompts(1)[0]]  # the same request twice: one line
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    reqs.append(Request.user("Case 9: structured", response_format=fmt))
    client = LLMClient(LLMConfig(**settings), cache_dir=tmp_path)
    got = client.run_batch(reqs)
    assert all(r.ok and not r.cached for r in got)
    [bid] = batch_ids(server)
    lines = input_lines(server, bid)
    assert len(lines) == 6 and len({ln["custom_id"] for ln in lines}) == 6
    assert [ln["custom_id"] for ln in lines] == list(dict.fromkeys(client.key(r) for r in reqs))
    assert all(ln["method"] == "POST" and ln["url"] == "/v1/chat/completions" for ln in lines)
    created = next(q for q in server.requests if q.path == "/v1/batches")
    assert created.body["endpoint"] == "/v1/chat/completions"
    assert created.body["completion_window"] == "24h"
    upload = next(q for q in server.requests if q.path == "/v1/files")
    assert upload.headers["content-type"].startswith("multipart/form-data")
    # the key goes only as the Authorization header, to every files/batches call
    assert all(q.headers["authorization"] == f"Bearer {API_KEY}" for q in server.requests)
    assert not any(
        API_KEY in v for q in server.requests for k, v in q.headers.items() if k != "authorization"
    )
    assert not any(API_KEY.encode() in data for data in server.files.values())
    assert server.chat_requests == []

    # the online path sends these very bodies and gets the same replies
    online = LLMClient(LLMConfig(**(settings | {"mode": "online"})))
    same = online.run_batch(reqs)
    sent = {json.dumps(q.body, sort_keys=True) for q in server.chat_requests}
    assert sent == {json.dumps(ln["body"], sort_keys=True) for ln in lines}
    assert [r.text for r in same] == [r.text for r in got]

    # stored: a second run sends nothing; no record left behind, no key written anywhere
    again = LLMClient(LLMConfig(**settings), cache_dir=tmp_path).run_batch(reqs)
    assert all(r.cached for r in again) and len(server.batches) == 1
    assert records(tmp_path) == []
    for f in tmp_path.rglob("*"):
        assert not f.is_file() or API_KEY.encode() not in f.read_bytes()


def test_many_requests_go_out_as_several_batches_within_the_limits(server: LLMServer, tmp_path):
    # 7 requests, at most 3 lines a batch: 3 + 3 + 1, side by side, in request order
    settings = llm(server, batch={"max_lines": 3})
    reqs = prompts(7)
    client = LLMClient(LLMConfig(**settings), cache_dir=tmp_path)
    got = client.run_batch(reqs)
    assert all(r.ok for r in got) and len(got) == 7
    sizes = sorted(len(input_lines(server, b)) for b in batch_ids(server))
    assert sizes == [1, 3, 3]
    sent = [ln["custom_id"] for b in batch_ids(server) for ln in input_lines(server, b)]
    assert sorted(sent) == sorted(client.key(r) for r in reqs)  # each line once
    assert records(tmp_path) == []
    # and by bytes: lines of ~4.2 KB under a 10 KB cap go two to a batch
    server.batches.clear()
    big = [Request.user(f"Case {i}: " + "the deltoid " * 350, tag=f"b{i}") for i in range(5)]
    by_bytes = LLMClient(LLMConfig(**llm(server, batch={"max_bytes": 10_000})), tmp_path / "b")
    line = len(batch_line(by_bytes, by_bytes.key(big[0]), big[0])) + 1
    assert 3 * line > 10_000 >= 2 * line
    parts = chunks(by_bytes, {by_bytes.key(r): r for r in big})
    assert [len(p) for p in parts] == [2, 2, 1]
    assert all(r.ok for r in by_bytes.run_batch(big))
    assert sorted(len(input_lines(server, b)) for b in batch_ids(server)) == [1, 2, 2]


def test_partial_failures_only_those_go_out_again(server: LLMServer, tmp_path):
    # in the first batch: line 0 a 503 (worth another try), "Case 2" a 400 every time (not);
    # the failed lines sit in the output file with their status, as some servers do
    server.queue_batches(BatchPlan(errors_in_output=True))
    server.queue(Fault(503))
    server.fault_for = lambda rec: Fault(400) if "Case 2:" in rec.prompt else None
    client = LLMClient(LLMConfig(**llm(server)), cache_dir=tmp_path)
    reqs = prompts(5)
    got = client.run_batch(reqs)
    first, second = batch_ids(server)
    assert [ln["custom_id"] for ln in input_lines(server, second)] == [client.key(reqs[0])]
    assert got[0].ok and got[0].attempts == 2
    assert got[2].error == "http_400" and "after 1 submission" in got[2].detail
    assert [r.ok for r in got] == [True, True, False, True, True]
    su = client.usage.steps["default"]
    assert (su.requests, su.retries, su.responses, su.errors) == (6, 1, 4, 1)
    cached = ResponseCache(cache_path(tmp_path))
    assert cached.get(client.key(reqs[2])) is None and cached.get(client.key(reqs[0]))


def test_failed_lines_in_the_error_file_and_a_bad_reply_is_not_cached(server, tmp_path):
    # a 500 in the error file (OpenAI's way) goes out again; a reply the caller cannot use
    # comes back but is not stored; lines for unknown custom_ids are ignored
    server.queue(Fault(500))
    reqs = [
        Request.user("Case 0: fine"),
        Request.user("Case 1: judged unusable", accept=lambda text: False),
    ]
    client = LLMClient(LLMConfig(**llm(server)), cache_dir=tmp_path)
    got = client.run_batch(reqs)
    assert all(r.ok for r in got) and got[0].attempts == 2
    cache = ResponseCache(cache_path(tmp_path))
    assert cache.get(client.key(reqs[0])) is not None
    assert cache.get(client.key(reqs[1])) is None


def test_a_batch_that_fails_validation_is_not_resubmitted(server: LLMServer, tmp_path):
    server.queue_batches(BatchPlan(fail=True))
    client = LLMClient(LLMConfig(**llm(server)), cache_dir=tmp_path)
    got = client.run_batch(prompts(3))
    assert {r.error for r in got} == {"batch_failed"} and "injected batch failure" in got[0].detail
    assert len(server.batches) == 1 and client.usage.steps["default"].errors == 3
    assert records(tmp_path) == []


def test_wait_limit_keeps_the_record_and_the_next_run_polls_it(server: LLMServer, tmp_path):
    server.batch_default = BatchPlan(seconds=1.5)
    reqs = prompts(3)
    impatient = LLMClient(LLMConfig(**llm(server, batch={"max_wait_s": 0.2})), cache_dir=tmp_path)
    settings = impatient.cfg.model_dump()
    got = impatient.run_batch(reqs)
    assert {r.error for r in got} == {"timeout"} and "kept on record" in got[0].detail
    [rec] = records(tmp_path)
    assert parse_record(rec.read_bytes()).batch_id == batch_ids(server)[0]
    time.sleep(0.2)
    settings["batch"]["max_wait_s"] = 30
    patient = LLMClient(LLMConfig(**settings), cache_dir=tmp_path)
    again = patient.run_batch(reqs)
    assert all(r.ok for r in again) and len(server.batches) == 1  # polled, not resubmitted
    assert records(tmp_path) == []


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xffnot json",
        b'{"v": 1, "batch_id": "batch_x", "round": 0, "endpoint": "http://evil/v1"}',
        b'{"v": 1, "batch_id": "../../v1/files", "round": 0}',
        b'{"v": 1, "batch_id": "batch_x", "round": "rm -rf /"}',
        b'["batch_x"]',
        b"{" + b" " * 5000 + b"}",
        "link",
    ],
    ids=["garbage", "extra-field", "path-id", "bad-round", "list", "huge", "symlink"],
)
def test_a_corrupt_record_is_discarded_with_one_warning(
    server: LLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | str
):
    cfg = LLMConfig(**llm(server))
    client = LLMClient(cfg, cache_dir=tmp_path)
    reqs = prompts(3)
    name = record_name(cfg.base_url, cfg.model, [client.key(r) for r in reqs])
    folder = tmp_path / "llm" / "batches"
    folder.mkdir(parents=True)
    path = folder / f"{name}.json"
    if content == "link":
        target = tmp_path / "elsewhere.json"
        target.write_text('{"v": 1, "batch_id": "batch_x", "round": 0}')
        path.symlink_to(target)
    else:
        path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="kgsynth.llm.batch"):
        got = client.run_batch(reqs)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "not a valid record" in warnings[0].getMessage()
    assert "evil" not in warnings[0].getMessage() and "rm -rf" not in warnings[0].getMessage()
    assert all(r.ok for r in got) and len(server.batches) == 1  # submitted anew
    assert not path.exists() and not path.is_symlink()
    assert not any("batch_x" in q.path or ".." in q.path for q in server.requests)


def test_a_record_of_a_batch_the_endpoint_does_not_know_is_resubmitted(server, tmp_path, caplog):
    cfg = LLMConfig(**llm(server))
    client = LLMClient(cfg, cache_dir=tmp_path)
    reqs = prompts(2)
    name = record_name(cfg.base_url, cfg.model, [client.key(r) for r in reqs])
    (tmp_path / "llm" / "batches").mkdir(parents=True)
    (tmp_path / "llm" / "batches" / f"{name}.json").write_text(
        '{"v": 1, "batch_id": "batch_gone", "round": 0}'
    )
    with caplog.at_level(logging.WARNING, logger="kgsynth.llm.batch"):
        got = client.run_batch(reqs)
    assert all(r.ok for r in got) and len(server.batches) == 1
    assert "unknown to the endpoint" in caplog.text


def test_files_and_batches_calls_are_retried_and_a_refused_key_stops(server, tmp_path, monkeypatch):
    server.queue_control(Fault(503), Fault(500))  # the upload fails twice... once retried
    client = LLMClient(LLMConfig(**llm(server, max_retries=2)), cache_dir=tmp_path)
    assert all(r.ok for r in client.run_batch(prompts(2)))
    assert len(server.batches) == 1
    # a key the endpoint refuses: the run stops at once, nothing is created
    monkeypatch.setenv(KEY_ENV, "sk-wrong-key")
    wrong = LLMClient(LLMConfig(**llm(server)), cache_dir=tmp_path)
    with pytest.raises(LLMAuthError, match=r"\(HTTP 401\)"):
        wrong.run_batch(prompts(2))
    assert len(server.batches) == 1


def test_batch_usage_is_priced_at_the_batch_price(server: LLMServer, tmp_path: Path):
    settings = llm(server)
    model = settings["model"]
    half = {model: ModelPrice(input_per_1m=2.0, output_per_1m=8.0)}
    reqs = prompts(4)
    online = LLMClient(LLMConfig(**(settings | {"mode": "online", "prices": half})))
    online.run_batch(reqs)
    batch = LLMClient(LLMConfig(**(settings | {"prices": half})))
    batch.run_batch(reqs)
    on, off = online.usage_report(), batch.usage_report()
    for k in ("requests", "responses", "prompt_tokens", "completion_tokens"):
        assert on["total"][k] == off["total"][k]
    assert off["total"]["batch_prompt_tokens"] == off["total"]["prompt_tokens"] > 0
    assert on["total"]["batch_prompt_tokens"] == 0
    assert off["total"]["cost_usd"] == pytest.approx(on["total"]["cost_usd"] / 2, abs=1e-9)
    # an explicit batch price wins over the default half
    p_tok, c_tok = off["total"]["prompt_tokens"], off["total"]["completion_tokens"]
    own = {
        model: ModelPrice(
            input_per_1m=2.0, output_per_1m=8.0, batch_input_per_1m=0.5, batch_output_per_1m=1.0
        )
    }
    rep = batch.usage.report(own)
    assert rep["total"]["cost_usd"] == pytest.approx((p_tok * 0.5 + c_tok * 1.0) / 1e6, abs=1e-9)
    assert rep["prices"][model]["batch_input_per_1m"] == 0.5
    # shards' usage folds together with its batch tokens, and the card shows the cost
    merged = Usage()
    merged.add(batch.usage)
    merged.add(online.usage)
    both = merged.report(half)
    assert both["total"]["cost_usd"] == pytest.approx(on["total"]["cost_usd"] * 1.5, abs=1e-9)
    card = "\n".join(usage_lines(both))
    assert f"${both['total']['cost_usd']:.4f}" in card


# -- builds ---------------------------------------------------------------------------------


def build_cfg(srv: LLMServer, cache_dir: Path, out: Path, mode: str, **llm_kw: Any):
    return load_config(
        None,
        {
            "qa": [DEFAULT_SAMPLE_QA],
            "kg": "hpo",
            "out": out,
            "cache_dir": cache_dir,
            "generator": "openai",
            "llm": llm(srv, model=MODEL, mode=mode, json_mode="json_schema", concurrency=4)
            | llm_kw,
            # the test server's canned sentences are no KG claims (test_claims covers them)
            "verify": {"claims": {"enabled": False}},
        },
    )


def build(cfg):
    from flows.build import build_dataset

    return build_dataset(cfg)


@pytest.fixture(scope="module")
def online_build(cache_dir: Path, hpo_kg, tmp_path_factory) -> Path:
    """The sample QA through the whole MedReason chain, online (its own server and port:
    its replies are its own in the shared cache)."""
    out = tmp_path_factory.mktemp("online") / "out"
    with pytest.MonkeyPatch.context() as mp:
        use_key(mp, KEY_ENV, API_KEY)
        with LLMServer(api_key=API_KEY) as srv:
            build(build_cfg(srv, cache_dir, out, "online"))
            assert srv.chat_requests and not srv.batches
    return out


def test_a_batch_build_exports_the_online_rows(
    server: LLMServer, online_build: Path, cache_dir: Path, tmp_path: Path
):
    out = tmp_path / "out"
    earlier = set(records(cache_dir))
    result = build(build_cfg(server, cache_dir, out, "batch"))
    assert server.chat_requests == [] and len(server.batches) >= 5  # a batch per chain step
    assert dataset_digest(out) == dataset_digest(online_build)
    usage = json.loads((out / "build.json").read_text())["llm_usage"]["total"]
    assert usage["batch_prompt_tokens"] == usage["prompt_tokens"] > 0
    assert usage["requests"] == len(server.batch_lines) and usage["errors"] == 0
    assert result.report.exported == _rows(online_build).height > 20
    assert set(records(cache_dir)) == earlier  # each batch's record went once it was handled


def test_expired_lines_go_out_once_more_then_fail_at_stage_llm(
    server: LLMServer, online_build: Path, cache_dir: Path, tmp_path: Path
):
    exported = _rows(online_build)["question"].to_list()
    late, lost = set(exported[0:12:3]), set(exported[1:12:3])  # 4 rows each

    def extraction_of(qs: set[str]) -> Any:
        return lambda rec: _step(rec) == "extract_entities" and any(q in rec.prompt for q in qs)

    # every batch expires before it reaches the `lost` rows' extractions; the first one
    # also before the `late` rows'
    late_or_lost = extraction_of(late | lost)
    server.queue_batches(BatchPlan(expire=True, leave=late_or_lost))
    server.batch_default = BatchPlan(expire=True, leave=extraction_of(lost))
    out = tmp_path / "out"
    earlier = set(records(cache_dir))
    rep = build(build_cfg(server, cache_dir, out, "batch", max_failure_ratio=0.2)).report

    extract = [
        b for b in server.batches.values() if b.metadata == {"kgsynth_step": "extract_entities"}
    ]
    assert len(extract) == 2  # the first and one resubmission, of the expired lines only
    assert len(extract[0].lines) == N_SAMPLE and len(extract[1].lines) == len(late | lost)
    resent = {ln["custom_id"] for ln in extract[1].lines}
    assert resent == {ln["custom_id"] for ln in extract[0].lines if late_or_lost(_rec(ln))}
    # the late rows arrived, as the online build has them; the lost ones failed, counted
    rows, online = pl.read_parquet(sorted((out / "data").glob("*.parquet"))), _rows(online_build)
    gone = online.filter(pl.col("question").is_in(list(lost)))
    assert gone.height == len(lost)
    assert rows.drop("created_at").equals(
        online.filter(~pl.col("question").is_in(list(lost))).drop("created_at")
    )
    failed = [r for r in rep.rejects if r.stage == Stage.LLM]
    assert len(failed) == len(lost) and {r.reason for r in failed} == {"batch_expired"}
    assert set(gone["id"]) == {r.id for r in failed}
    assert all("after 2 submissions" in r.detail for r in failed)
    rep.check_balance()
    usage = json.loads((out / "build.json").read_text())["llm_usage"]["steps"]
    assert usage["extract_entities"]["errors"] == len(lost)
    assert usage["extract_entities"]["retries"] == len(late | lost)
    assert set(records(cache_dir)) == earlier


def _step(rec: RecordedRequest) -> str:
    fmt = rec.body.get("response_format") if isinstance(rec.body, dict) else None
    return (fmt or {}).get("json_schema", {}).get("name", "thinking_path")


def _rec(line: dict[str, Any]) -> RecordedRequest:
    return RecordedRequest("POST", "/v1/chat/completions", {}, line["body"], 0.0)


def _rows(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted((out / "data").glob("*.parquet")))


# -- SIGKILL while polling, then a re-run ----------------------------------------------------


def _stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=5) as r:
        return json.loads(r.read())


def test_sigkill_while_polling_then_rerun_polls_the_same_batch(
    cache_dir: Path, hpo_kg, tmp_path: Path
):
    earlier = set(records(cache_dir))  # the session's cache: only this test's count
    env = os.environ | {KEY_ENV: API_KEY, "NO_PROXY": "127.0.0.1,localhost"}
    env["no_proxy"] = env["NO_PROXY"]
    # the server in a process of its own (it outlives the build), holding each batch
    # in_progress for 10 s
    srv = subprocess.Popen(
        [sys.executable, "tests/llm_server.py", "--api-key", API_KEY, "--batch-seconds", "10"],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert srv.stdout is not None
        port = int(srv.stdout.readline().split()[1])
        config = tmp_path / "build.toml"
        # the thinking path alone: one batch per run of the build
        config.write_text(
            '[llm]\nmode = "batch"\n[llm.batch]\npoll_s = 0.1\npoll_max_s = 0.5\n'
            "[chain]\nextract_entities = false\nprune_paths = false\nquality_filter = false\n"
            "[verify.claims]\nenabled = false\n[run]\ncache_results = false\n"
        )
        out = tmp_path / "out"
        model = f"batch-kill-{uuid.uuid4().hex[:8]}"
        cmd = [
            sys.executable, "-m", "kgsynth.cli", "build", "--qa", str(DEFAULT_SAMPLE_QA),
            "--kg", "hpo", "--out", str(out), "--cache-dir", str(cache_dir),
            "--config", str(config), "--generator", "openai",
            "--base-url", f"http://127.0.0.1:{port}/v1", "--model", model,
            "--api-key-env", KEY_ENV,
        ]  # fmt: skip
        log1 = (tmp_path / "run1.log").open("wb")
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log1, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 150
        try:
            # polling: the batch exists and its status was asked for (its record is written
            # before the first poll)
            while not (_stats(port)["batches_created"] == 1 and _stats(port)["batch_polls"] >= 2):
                assert proc.poll() is None, (tmp_path / "run1.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the build never reached its batch"
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            log1.close()
        assert proc.returncode == -signal.SIGKILL
        assert not (out / "build.json").exists()
        [rec] = set(records(cache_dir)) - earlier
        before = _stats(port)
        assert before["batches_created"] == 1

        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=200)
        assert done.returncode == 0, done.stdout.decode()[-3000:] + done.stderr.decode()[-3000:]
        after = _stats(port)
        assert after["batches_created"] == 1  # no batch submitted twice
        assert after["files_uploaded"] == 1 and after["batch_polls"] > before["batch_polls"]
        assert after["chat_requests"] == 0 and not rec.exists()
        summary = json.loads((out / "build.json").read_text())
        assert summary["exported"] + summary["rejected"] == N_SAMPLE and summary["exported"] > 20
        # one reply per row that reached the thinking-path step, as in one uninterrupted run
        assert summary["llm_usage"]["total"]["responses"] == summary["counts"]["generate"]
        assert not [r for r in _rejects(out) if r["stage"] == "llm"]
        for f in (tmp_path / "run1.log", out / "build.json", out / "README.md"):
            assert API_KEY not in f.read_text()
    finally:
        srv.stdin.close()  # type: ignore[union-attr]
        srv.wait(timeout=10)


def _rejects(out: Path) -> list[dict[str, Any]]:
    return pl.read_parquet(out / "rejects.parquet").to_dicts()
