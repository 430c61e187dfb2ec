"""LLM failures: they fail a run instead of thinning it, are never cached, and are never
blamed on another stage (issue 13).

Every fault is injected by the local OpenAI-compatible server (tests/llm_server.py) and
every claim is checked on what that server saw. The builds run the MedReason chain in
json_schema mode, so the server answers each JSON step from the schema it is sent and the
thinking path with its default three-part reply.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from llm_server import Fault, LLMServer, RecordedRequest, default_reply, schema_reply, use_key
from test_llm import make_item
from typer.testing import CliRunner

from kgsynth.chain.steps import ExtractedEntities
from kgsynth.cli import app
from kgsynth.config import BuildConfig, LLMConfig, load_config
from kgsynth.errors import LLMAuthError, LLMFailureError
from kgsynth.llm.cache import CachedResponse, ResponseCache, cache_path
from kgsynth.llm.client import LLMClient, Request
from kgsynth.llm.openai_backend import REPAIR_ASK, OpenAIGenerator
from kgsynth.llm.structured import StepFailure, StructuredRunner
from kgsynth.qa import read_qa
from kgsynth.records import Generation, Reject
from kgsynth.stages import Stage

REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "KGSYNTH_TEST_FAILURES_KEY"
API_KEY = "sk-kgsynth-failures-S3CRET-4b1d"
LIMIT = 60
SHARD = 20  # 3 shards
# rows read where one must pass the evidence stage: the first hpo row that does is the 159th
LATE_LIMIT = 160
REPAIR_MARK = REPAIR_ASK.split("{", 1)[0]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    use_key(monkeypatch, KEY_ENV, API_KEY)
    with LLMServer(api_key=API_KEY) as srv:
        yield srv


def llm(srv_url: str, **kw: Any) -> dict[str, Any]:
    # a model name of its own: the session cache never serves another test's replies
    return {
        "base_url": srv_url,
        "model": f"failures-{uuid.uuid4().hex[:8]}",
        "api_key_env": KEY_ENV,
        "json_mode": "json_schema",
        "max_retries": 1,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 10,
        "concurrency": 4,
    } | kw


def build_cfg(medqa: Path, cache_dir: Path, tmp: Path, llm_cfg: dict[str, Any], **over: Any):
    run = {"shard_size": SHARD, "result_dir": tmp / "results", "retries": 0}
    return load_config(
        None,
        {
            "qa": [medqa],
            "kg": "hpo",
            "out": tmp / over.pop("out", "out"),
            "cache_dir": cache_dir,
            "limit": LIMIT,
            "generator": "openai",
            "llm": llm_cfg,
            # the test server's canned sentences are no KG claims (test_claims covers them)
            "verify": {"claims": {"enabled": False}},
            **over,
            "run": run | over.pop("run", {}),
        },
    )


def build(cfg: BuildConfig):
    from flows.build import build_dataset

    return build_dataset(cfg)


def step_name(rec: RecordedRequest) -> str:
    fmt = rec.body.get("response_format") if isinstance(rec.body, dict) else None
    return (fmt or {}).get("json_schema", {}).get("name", "thinking_path")


def asked(reqs: list[RecordedRequest], step: str) -> list[str]:
    return [q.prompt for q in reqs if step_name(q) == step]


def one_line(message: str) -> bool:
    return "\n" not in message.strip()


# -- 1. endpoint down, key refused -----------------------------------------------------------


def test_endpoint_down_fails_the_build_and_blames_the_llm(
    server: LLMServer, medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path: Path
):
    probe = LLMServer(api_key=API_KEY).start()
    dead = probe.base_url
    probe.stop()  # nothing listens there any more
    cfg = build_cfg(medqa_path, cache_dir, tmp_path, llm(dead))
    with pytest.raises(LLMFailureError) as e:
        build(cfg)
    msg = str(e.value)
    assert one_line(msg)
    # every row left at stage llm for the failed extraction: none blamed on linking
    assert f"{LIMIT} of {LIMIT} input rows (100.0%)" in msg
    assert f"(llm/connection_error: {LIMIT})" in msg and "link/" not in msg
    assert "max_failure_ratio = 0.05" in msg
    assert not (tmp_path / "out").exists()  # nothing written, no thinned dataset


def test_endpoint_down_with_a_tolerant_limit_rejects_at_stage_llm(
    server: LLMServer, medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path: Path
):
    probe = LLMServer(api_key=API_KEY).start()
    dead = probe.base_url
    probe.stop()
    cfg = build_cfg(medqa_path, cache_dir, tmp_path, llm(dead, max_failure_ratio=1.0))
    rep = build(cfg).report
    assert rep.exported == 0 and len(rep.rejects) == LIMIT
    assert {(r.stage, r.reason) for r in rep.rejects} == {("llm", "connection_error")}
    assert all(r.detail.startswith("extract_entities: ") for r in rep.rejects)
    assert "after 2 attempts" in rep.rejects[0].detail
    rep.check_balance()


def test_refused_key_aborts_at_once_without_the_key(
    server: LLMServer, medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path: Path, monkeypatch
):
    wrong = "sk-wrong-key-NEVER-PRINTED-77"
    monkeypatch.setenv(KEY_ENV, wrong)
    config = tmp_path / "build.toml"
    config.write_text(
        '[llm]\njson_mode = "json_schema"\nconcurrency = 2\nmax_retries = 3\n'
        "[verify.claims]\nenabled = false\n"
        f'[run]\nshard_size = {SHARD}\nresult_dir = "{tmp_path / "results"}"\n'
    )
    args = ["build", "--qa", str(medqa_path), "--kg", "hpo", "--limit", str(LIMIT)]
    args += ["--out", str(tmp_path / "out"), "--cache-dir", str(cache_dir)]
    args += ["--config", str(config), "--generator", "openai", "--base-url", server.base_url]
    args += ["--model", f"failures-{uuid.uuid4().hex[:8]}", "--api-key-env", KEY_ENV]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.output
    assert f"rejected the API key in ${KEY_ENV} (HTTP 401)" in lines[0]
    assert f"127.0.0.1:{server.port}/v1" in lines[0]
    assert wrong not in res.output and API_KEY not in res.output
    # no retries, no other shard: only the requests already in flight at once went out
    assert 1 <= len(server.chat_requests) <= 2
    assert not (tmp_path / "out" / "build.json").exists()


# -- 2. a persistent 503 for some prompts; the re-run after the fix --------------------------


def test_persistent_503_fails_or_rejects_then_a_rerun_recovers(
    server: LLMServer, medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path: Path
):
    questions = [r.question for r in read_qa([medqa_path], limit=LIMIT).records]
    broken = set(questions[::7])  # 9 of 60 rows: 15%

    def fault_for(rec: RecordedRequest) -> Fault | None:
        if step_name(rec) == "extract_entities" and any(q in rec.prompt for q in broken):
            return Fault(503)
        return None

    server.fault_for = fault_for
    settings = llm(server.base_url)

    # the default limit (5%): the build fails before anything is written
    with pytest.raises(LLMFailureError) as e:
        build(build_cfg(medqa_path, cache_dir, tmp_path, settings))
    assert one_line(str(e.value)) and "(llm/http_503: 9)" in str(e.value)
    assert "9 of 60 input rows (15.0%)" in str(e.value)
    assert not (tmp_path / "out").exists()
    # every shard has failed rows (0, 7, 14 | 21, 28, 35 | 42, 49, 56): none was kept
    assert not list((tmp_path / "results").glob("kgsynth-shard-*"))

    # a tolerant limit: the build goes through, each failed row rejected at llm/http_503
    server.requests.clear()
    tolerant = settings | {"max_failure_ratio": 0.5}
    res1 = build(build_cfg(medqa_path, cache_dir, tmp_path, tolerant, out="out1"))
    rep1 = res1.report
    failed = [r for r in rep1.rejects if r.stage == Stage.LLM]
    assert len(failed) == 9 and {r.reason for r in failed} == {"http_503"}
    assert all("extract_entities" in r.detail and "2 attempts" in r.detail for r in failed)
    rep1.check_balance()
    assert rep1.n_input == LIMIT == rep1.exported + len(rep1.rejects)
    data = pl.read_parquet(tmp_path / "out1" / "rejects.parquet")
    assert data.filter(pl.col("stage") == "llm").height == 9
    # only the failed extractions were sent again (the good replies came from the cache),
    # each tried twice (max_retries = 1)
    sent1 = asked(server.chat_requests, "extract_entities")
    assert len(sent1) == 18 and all(any(q in p for q in broken) for p in sent1)

    # the fault is fixed: the re-run sends exactly the extractions that failed (plus what
    # those rows need downstream), takes no failed shard from the shard cache, and brings
    # the rows back
    server.fault_for = None
    server.requests.clear()
    res2 = build(build_cfg(medqa_path, cache_dir, tmp_path, tolerant, out="out2"))
    rep2 = res2.report
    sent = asked(server.chat_requests, "extract_entities")
    assert len(sent) == 9 and all(any(q in p for q in broken) for p in sent)
    assert not [r for r in rep2.rejects if r.stage == Stage.LLM]
    rep2.check_balance()
    assert rep2.run is not None and rep2.run.shards == 3 and rep2.run.cached_shards == 0

    # shards without failures are kept: the next run takes all three from disk
    server.requests.clear()
    again = build(build_cfg(medqa_path, cache_dir, tmp_path, tolerant, out="out3"))
    assert again.report.run.cached_shards == 3 and server.chat_requests == []

    # the same rows and rejects as a build that never saw a fault (a fresh response cache:
    # another model name; no shard cache)
    fresh = build(
        build_cfg(
            medqa_path,
            cache_dir,
            tmp_path,
            llm(server.base_url),
            out="out4",
            run={"cache_results": False},
        )
    )
    assert fresh.report.counts == rep2.counts

    def verdicts(r: Any) -> set[tuple[Any, ...]]:
        return {(x.id, x.stage, x.reason) for x in r.report.rejects}

    assert verdicts(fresh) == verdicts(res2)


@pytest.mark.parametrize(
    "step", ["reformulate", "prune_paths", "thinking_path", "answer_from_reasoning", "judge"]
)
def test_a_later_step_without_a_reply_rejects_its_row_at_stage_llm(
    step: str, server: LLMServer, medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path: Path
):
    """Of these 160 rows one reaches the paths stage and every LLM step after it; that step
    failing for good takes the row out at llm/http_503, not as that stage's own verdict
    (no path, unparseable, quality filter). One row in 160 is under the default limit."""
    server.fault_for = lambda rec: Fault(503) if step_name(rec) == step else None
    cfg = build_cfg(medqa_path, cache_dir, tmp_path, llm(server.base_url), limit=LATE_LIMIT)
    rep = build(cfg).report
    failed = [r for r in rep.rejects if r.stage == Stage.LLM]
    assert len(failed) == 1 and failed[0].reason == "http_503", rep.rejects
    assert failed[0].detail.startswith(f"{step}: ") and "HTTP 503" in failed[0].detail
    assert rep.exported == 0
    assert not [r for r in rep.rejects if r.stage in ("paths", "generate", "quality")]
    rep.check_balance()
    assert asked(server.chat_requests, step)  # it was asked, and retried
    assert all(q.status == 503 for q in server.chat_requests if step_name(q) == step)


def test_wrong_schema_extraction_is_no_link_verdict(
    server: LLMServer, medqa_path: Path, cache_dir: Path, hpo_kg, tmp_path: Path
):
    """An extraction reply of the wrong shape is not "no entities": after its repair
    request it rejects the row at llm/schema_mismatch, never at link/no_answer_entity."""

    def wrong(rec: RecordedRequest) -> str:
        if step_name(rec) == "extract_entities":
            return json.dumps({"entities": [{"name": "Fever"}]})
        return schema_reply(rec)

    server.json_responder = wrong
    cfg = build_cfg(
        medqa_path,
        cache_dir,
        tmp_path,
        llm(server.base_url, max_failure_ratio=1.0),
        limit=10,
    )
    rep = build(cfg).report
    assert Counter((r.stage, r.reason) for r in rep.rejects) == {("llm", "schema_mismatch"): 10}
    assert all("after one repair" in r.detail for r in rep.rejects)
    assert len(asked(server.chat_requests, "extract_entities")) == 20  # 10 + 10 repairs
    # nothing bad was cached: with the server fixed, every extraction is asked again
    server.json_responder = schema_reply
    server.requests.clear()
    rep = build(cfg.model_copy(update={"out": tmp_path / "again"})).report
    assert len(asked(server.chat_requests, "extract_entities")) == 10
    assert not [r for r in rep.rejects if r.stage == Stage.LLM]


# -- 3. bad replies: retried, repaired, never cached -----------------------------------------


def gen_cfg(srv: LLMServer, **kw: Any) -> LLMConfig:
    return LLMConfig(**llm(srv.base_url, **({"concurrency": 1} | kw)))


def test_non_json_200_then_a_good_reply_keeps_the_row(server: LLMServer):
    server.queue(
        Fault(200, body="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    )
    gen = OpenAIGenerator(gen_cfg(server))
    [r] = gen.generate([make_item(1)])
    assert isinstance(r, Generation), r
    assert [q.status for q in server.chat_requests] == [200, 200]
    su = gen.client.usage.steps["thinking_path"]
    assert (su.requests, su.retries, su.responses, su.errors) == (2, 1, 1, 0)


def test_json_200_that_is_no_completion_is_retried(server: LLMServer):
    server.queue(Fault(200, body='{"id": "x", "object": "error"}'))
    [r] = LLMClient(gen_cfg(server)).run_batch([Request.user("Case 1: hello")])
    assert r.ok and r.attempts == 2 and len(server.chat_requests) == 2


def test_thinking_path_without_sections_is_repaired_once(server: LLMServer, tmp_path: Path):
    item = make_item(2)
    original: list[str] = []

    def responder(prompt: str) -> str:
        if REPAIR_MARK in prompt:
            return default_reply(original[0])  # the repair gets a proper reply
        original.append(prompt)
        return "The answer is B, because of the seizures."

    server.responder = responder
    settings = gen_cfg(server)
    gen = OpenAIGenerator(settings, cache_dir=tmp_path)
    [r] = gen.generate([item])
    assert isinstance(r, Generation), r
    first, repair = server.chat_requests
    msgs = repair.body["messages"]
    assert msgs[:-2] == first.body["messages"]
    assert msgs[-2] == {"role": "assistant", "content": "The answer is B, because of the seizures."}
    assert "three sections" in msgs[-1]["content"]
    assert gen.client.usage.steps["thinking_path.repair"].responses == 1
    # the repaired reply answers the first request next time: no request, no repair
    server.requests.clear()
    [again] = OpenAIGenerator(settings, cache_dir=tmp_path).generate([item])
    assert isinstance(again, Generation) and again.reasoning == r.reasoning
    assert server.chat_requests == []


def test_empty_thinking_path_still_bad_after_repair_is_rejected_and_not_cached(
    server: LLMServer, tmp_path: Path
):
    server.responder = lambda prompt: ""
    settings = gen_cfg(server)
    [r] = OpenAIGenerator(settings, cache_dir=tmp_path).generate([make_item(3)])
    assert isinstance(r, Reject) and (r.stage, r.reason) == ("generate", "unparseable_response")
    assert "after one repair" in r.detail
    first, repair = server.chat_requests
    assert [m["role"] for m in repair.body["messages"]] == ["user", "user"]  # no empty turn
    assert "it was empty" in repair.prompt
    assert len(ResponseCache(cache_path(tmp_path))) == 0
    # the fault is gone: the re-run asks again and keeps the row
    server.responder = default_reply
    server.requests.clear()
    [ok] = OpenAIGenerator(settings, cache_dir=tmp_path).generate([make_item(3)])
    assert isinstance(ok, Generation) and len(server.chat_requests) == 1


def test_bad_json_is_not_cached_and_a_poisoned_cache_heals(server: LLMServer, tmp_path: Path):
    from kgsynth.chain.steps import EXTRACT

    server.json_responder = lambda rec: '{"entities": []}'
    settings = gen_cfg(server)
    prompt = EXTRACT.prompt(question="A boy has seizures.", answer="Epilepsy", node_types=[])
    [bad] = StructuredRunner(LLMClient(settings, cache_dir=tmp_path)).run(EXTRACT, [prompt])
    assert isinstance(bad, StepFailure) and bad.reason == "schema_mismatch" and not bad.no_reply
    assert len(server.chat_requests) == 2  # the first try and its repair
    assert len(ResponseCache(cache_path(tmp_path))) == 0
    # the fault is off: the request goes out again
    server.json_responder = schema_reply
    server.requests.clear()
    client = LLMClient(settings, cache_dir=tmp_path)
    [good] = StructuredRunner(client).run(EXTRACT, [prompt])
    assert isinstance(good, ExtractedEntities) and len(server.chat_requests) == 1
    # a cache an older version filled with a bad reply: the reply is asked for again
    runner = StructuredRunner(client)
    req = runner.request(EXTRACT, prompt)
    key = client.key(req)
    client.cache.put(key, CachedResponse('{"entities": []}', settings.model, 1, 1))
    server.requests.clear()
    [healed] = runner.run(EXTRACT, [prompt])
    assert isinstance(healed, ExtractedEntities) and len(server.chat_requests) == 1
    assert client.cache.get(key).text != '{"entities": []}'


# -- 4. one cache, two builds ----------------------------------------------------------------

PROMPTS = [f"Case {i}: which nerve supplies the deltoid?" for i in range(24)]


def test_two_clients_on_one_cache_send_each_prompt_once(server: LLMServer, tmp_path: Path):
    server.delay_s = 0.1
    settings = gen_cfg(server, concurrency=4)
    results: dict[str, list] = {}
    go = threading.Barrier(2)

    def run(name: str) -> None:
        client = LLMClient(settings, cache_dir=tmp_path)
        go.wait()
        results[name] = client.run_batch([Request.user(p) for p in PROMPTS])
        client.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    sent = Counter(q.prompt for q in server.chat_requests)
    assert sent == Counter(PROMPTS)  # each prompt once, between the two
    a, b = results["a"], results["b"]
    assert all(r.ok for r in a + b) and [r.text for r in a] == [r.text for r in b]
    assert sum(r.cached for r in a + b) == len(PROMPTS)  # one side waited for each
    db = sqlite3.connect(cache_path(tmp_path))
    assert db.execute("SELECT COUNT(*) FROM inflight").fetchone()[0] == 0  # all released


_CHILD = """
import json, sys
from kgsynth.config import LLMConfig
from kgsynth.llm.client import LLMClient, Request
cfg = LLMConfig(**json.loads(sys.argv[1]))
prompts = json.loads(sys.argv[3])
client = LLMClient(cfg, cache_dir=__import__("pathlib").Path(sys.argv[2]))
sys.stdin.readline()  # start together
res = client.run_batch([Request.user(p) for p in prompts])
print(json.dumps([r.ok for r in res]))
"""


def test_two_processes_on_one_cache_send_each_prompt_once(server: LLMServer, tmp_path: Path):
    server.delay_s = 0.1
    settings = gen_cfg(server, concurrency=4).model_dump(mode="json")
    env = os.environ | {KEY_ENV: API_KEY}
    cmd = [sys.executable, "-c", _CHILD, json.dumps(settings), str(tmp_path), json.dumps(PROMPTS)]
    procs = [
        subprocess.Popen(
            cmd, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    time.sleep(3)  # both imported and waiting
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert all(all(json.loads(o.strip().splitlines()[-1])) for o in outs)
    assert Counter(q.prompt for q in server.chat_requests) == Counter(PROMPTS)


def test_a_dead_owner_claim_is_taken_over_at_once(server: LLMServer, tmp_path: Path):
    settings = gen_cfg(server)
    client = LLMClient(settings, cache_dir=tmp_path)
    req = Request.user(PROMPTS[0])
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)  # a process that has ended: its claims are stale
    db = sqlite3.connect(cache_path(tmp_path))
    host = __import__("socket").gethostname()
    db.execute(
        "INSERT INTO inflight VALUES (?, ?, ?, ?, ?)",
        (client.key(req), "killed-build", host, pid, time.time() + 3600),
    )
    db.commit()
    t0 = time.monotonic()
    [r] = client.run_batch([req])
    assert r.ok and not r.cached and time.monotonic() - t0 < 5
    assert len(server.chat_requests) == 1


def test_a_waiter_sends_itself_when_the_owner_fails(server: LLMServer, tmp_path: Path):
    settings = gen_cfg(server)
    owner = ResponseCache(cache_path(tmp_path))  # another live build in this process
    client = LLMClient(settings, cache_dir=tmp_path)
    req = Request.user(PROMPTS[1])
    claim = owner.claim([client.key(req)], lease_s=60)
    assert claim.mine == {client.key(req)}

    def fail_later() -> None:
        time.sleep(0.5)
        owner.release([client.key(req)])  # its request failed: no reply stored

    threading.Thread(target=fail_later).start()
    t0 = time.monotonic()
    [r] = client.run_batch([req])
    assert r.ok and not r.cached and 0.4 < time.monotonic() - t0 < 5
    assert len(server.chat_requests) == 1


def test_an_expired_lease_is_taken_over(tmp_path: Path):
    a = ResponseCache(cache_path(tmp_path))
    b = ResponseCache(cache_path(tmp_path))
    assert a.claim(["k1", "k2"], lease_s=60).mine == {"k1", "k2"}
    got = b.claim(["k1", "k2", "k3"], lease_s=60)
    assert got.held == {"k1", "k2"} and got.mine == {"k3"}
    a.put("k1", CachedResponse("reply", "m", 1, 1))
    a.claim(["k2"], lease_s=-1)  # a lease already over: as if `a` stopped renewing
    got = b.claim(["k1", "k2"], lease_s=60)
    assert got.answered["k1"].text == "reply" and got.mine == {"k2"} and not got.held
    a.close()
    b.close()


def test_a_refused_key_stops_the_batch_and_releases_its_claims(server, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong")
    client = LLMClient(gen_cfg(server, concurrency=2), cache_dir=tmp_path)
    with pytest.raises(LLMAuthError, match=r"\(HTTP 401\)"):
        client.run_batch([Request.user(p) for p in PROMPTS])
    assert len(server.chat_requests) <= 2
    db = sqlite3.connect(cache_path(tmp_path))
    assert db.execute("SELECT COUNT(*) FROM inflight").fetchone()[0] == 0


# -- 5. KG-first synthesis -------------------------------------------------------------------


def test_synthesis_with_a_dead_endpoint_stops_after_one_round(
    server: LLMServer, cache_dir: Path, hpo_kg, tmp_path: Path
):
    from flows.synth import synth_from_kg
    from kgsynth.stages.synth import round_size
    from kgsynth.synth.config import SynthConfig

    probe = LLMServer(api_key=API_KEY).start()
    dead = probe.base_url
    probe.stop()
    cfg = SynthConfig(
        kg="hpo",
        out=tmp_path / "out",
        cache_dir=cache_dir,
        n=10,
        generator="openai",
        seed=2,
        llm=LLMConfig(**llm(dead)),
    )
    with pytest.raises(LLMFailureError) as e:
        synth_from_kg(cfg)
    msg = str(e.value)
    assert one_line(msg) and "llm/connection_error" in msg
    assert f" of {round_size(cfg, 0, 0)} attempts " in msg  # the first round's
    assert not (tmp_path / "out").exists()
