"""The LLM client (kgsynth/llm/client.py) and JSON blocks (structured.py) over real HTTP.

Every fault is injected by the local OpenAI-compatible server (tests/llm_server.py), and
every claim is checked on what that server saw: request counts and timestamps, in-flight
peaks, bodies. Nothing in the openai client is patched.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from llm_server import Fault, LLMServer, use_key
from pydantic import BaseModel, Field

from kgsynth.config import LLMConfig, ModelPrice
from kgsynth.llm.cache import ResponseCache, cache_path
from kgsynth.llm.client import LLMClient, Request, backoff_delay, parse_retry_after
from kgsynth.llm.limits import TokenBucket
from kgsynth.llm.structured import StepFailure, StructuredRunner, parse_reply

KEY_ENV = "KGSYNTH_TEST_CLIENT_KEY"
API_KEY = "sk-kgsynth-client-S3CRET-0d9e8f7a6b"
MODEL = "client-test-model"


@pytest.fixture(scope="module")
def llm_server():
    with LLMServer(api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
def server(llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> LLMServer:
    llm_server.reset()
    use_key(monkeypatch, KEY_ENV, API_KEY)
    return llm_server


def cfg(srv: LLMServer, **kw) -> LLMConfig:
    base = {
        "base_url": srv.base_url,
        "model": MODEL,
        "api_key_env": KEY_ENV,
        "max_retries": 2,
        "timeout_s": 10.0,
        "concurrency": 4,
        "backoff_base_s": 0.05,
        "backoff_max_s": 5.0,
    }
    return LLMConfig(**(base | kw))


def reqs(n: int, step: str = "default", what: str = "Request") -> list[Request]:
    return [Request.user(f"{what} number {i}: say something.", step=step) for i in range(n)]


# -- retries and faults -----------------------------------------------------------------------


def test_429_waits_for_retry_after(server: LLMServer):
    server.queue(Fault(429, retry_after=1.0))
    client = LLMClient(cfg(server))
    [res] = client.run_batch(reqs(1))
    assert res.ok and res.attempts == 2, res
    first, second = server.chat_requests
    assert (first.status, second.status) == (429, 200)
    # backoff alone would be <= 0.05 s; the server asked for 1 s
    assert second.started - first.ended >= 1.0
    su = client.usage.steps["default"]
    assert (su.requests, su.retries, su.responses, su.errors) == (2, 1, 1, 0)


def test_429_pauses_every_request_not_just_its_own(server: LLMServer):
    server.queue(Fault(429, retry_after=0.8))
    res = LLMClient(cfg(server, concurrency=1)).run_batch(reqs(3))
    assert all(r.ok for r in res)
    limited = server.chat_requests[0]
    assert limited.status == 429
    # with the one slot free during the wait, the next item still waited out the 429
    assert all(q.started - limited.ended >= 0.8 for q in server.chat_requests[1:])


@pytest.mark.parametrize("statuses", [[500], [503], [500, 503]])
def test_5xx_is_retried(server: LLMServer, statuses: list[int]):
    server.queue(*(Fault(s) for s in statuses))
    [res] = LLMClient(cfg(server)).run_batch(reqs(1))
    assert res.ok and res.attempts == len(statuses) + 1
    seen = server.chat_requests
    assert [q.status for q in seen] == [*statuses, 200]
    # our retry loop numbers its attempts where the SDK would
    assert [q.headers["x-stainless-retry-count"] for q in seen] == [
        str(i) for i in range(len(seen))
    ]
    assert len({json.dumps(q.body, sort_keys=True) for q in seen}) == 1  # the same request


def test_4xx_other_than_429_is_not_retried(server: LLMServer):
    server.queue(Fault(400, message="bad request"))
    [res] = LLMClient(cfg(server)).run_batch(reqs(1))
    assert res.error == "http_400" and "HTTP 400" in res.detail and res.attempts == 1
    assert len(server.chat_requests) == 1


def test_connection_reset_is_retried(server: LLMServer):
    server.queue(Fault(reset=True))
    [res] = LLMClient(cfg(server)).run_batch(reqs(1))
    assert res.ok and res.attempts == 2
    assert [q.completed for q in server.chat_requests] == [False, True]


def test_persistent_resets_end_as_a_connection_error(server: LLMServer):
    server.queue(*(Fault(reset=True) for _ in range(3)))
    [res] = LLMClient(cfg(server, max_retries=2)).run_batch(reqs(1))
    assert res.error == "connection_error" and "Connection" in res.detail and res.attempts == 3
    assert "after 3 attempts" in res.detail
    assert len(server.chat_requests) == 3


def test_truncated_body_is_a_dropped_connection_and_retried(server: LLMServer):
    server.queue(Fault(truncate=True))
    [res] = LLMClient(cfg(server)).run_batch(reqs(1))
    assert res.ok and res.attempts == 2
    assert res.text and res.text.startswith("Finding reasoning paths:")  # the whole reply


def test_timeout_is_retried_then_succeeds(server: LLMServer):
    server.queue(Fault(200, delay_s=1.5))
    t0 = time.monotonic()
    [res] = LLMClient(cfg(server, timeout_s=0.4)).run_batch(reqs(1))
    assert res.ok and res.attempts == 2
    assert time.monotonic() - t0 < 1.5  # gave up on the slow one at 0.4 s


def test_timeout_every_time_is_rejected(server: LLMServer):
    server.delay_s = 1.5
    t0 = time.monotonic()
    [res] = LLMClient(cfg(server, timeout_s=0.3, max_retries=1)).run_batch(reqs(1))
    assert res.error == "timeout" and "Timeout" in res.detail and res.attempts == 2
    assert time.monotonic() - t0 < 1.5
    assert len(server.chat_requests) == 2


def test_malformed_200_is_retried_like_a_5xx(server: LLMServer):
    server.queue(Fault(200, body='{"choices": [', content_type="application/json"))
    client = LLMClient(cfg(server, concurrency=1))
    [res, ok] = client.run_batch(reqs(2))
    assert res.ok and res.attempts == 2 and ok.ok
    assert client.usage.steps["default"].retries == 1
    server.reset()
    server.queue(*(Fault(200, body="<html>", content_type="text/html") for _ in range(3)))
    [res] = LLMClient(cfg(server, max_retries=2)).run_batch(reqs(1))
    assert res.error == "unparseable_response" and res.attempts == 3


def test_retry_after_parsing_and_backoff_bounds():
    import random

    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    when = datetime.now(UTC) + timedelta(seconds=30)
    secs = parse_retry_after({"retry-after": format_datetime(when, usegmt=True)})
    assert secs is not None and 28 <= secs <= 31
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    rng = random.Random(0)
    for attempt in range(8):
        d = backoff_delay(attempt, 0.5, 4.0, None, rng)
        assert 0 <= d <= min(4.0, 0.5 * 2**attempt)
    assert 3.0 <= backoff_delay(0, 0.5, 30.0, 3.0, rng) <= 3.3  # Retry-After is the floor
    assert 5.0 <= backoff_delay(0, 0.5, 5.0, 120.0, rng) <= 5.5  # ... capped at backoff_max


# -- limits -----------------------------------------------------------------------------------


def test_concurrency_bound_is_respected(server: LLMServer):
    server.delay_s = 0.1
    res = LLMClient(cfg(server, concurrency=5)).run_batch(reqs(20))
    assert all(r.ok for r in res)
    assert server.max_in_flight == 5


def test_rpm_limit_spaces_requests(server: LLMServer):
    # 240 rpm = 4 requests/s with a burst of 4 (one second's worth)
    res = LLMClient(cfg(server, concurrency=12, rpm=240)).run_batch(reqs(12))
    assert all(r.ok for r in res)
    starts = sorted(q.started for q in server.chat_requests)
    for k, t in enumerate(starts):
        assert t - starts[0] >= (k - 4) / 4 - 0.05, (k, t - starts[0])
    assert starts[-1] - starts[0] >= 1.9


def test_token_bucket_rate_and_debt():
    async def go() -> tuple[float, float]:
        bucket = TokenBucket(per_minute=1200)  # 20/s, burst 20
        t0 = time.monotonic()
        for _ in range(40):
            await bucket.acquire(1)
        steady = time.monotonic() - t0
        await bucket.acquire(50)  # bigger than the bucket: waits for a full one, then owes
        t1 = time.monotonic()
        await bucket.acquire(1)  # pays off 30 units of debt first: >= 1.5 s
        return steady, time.monotonic() - t1

    steady, after_debt = asyncio.run(go())
    assert 0.9 <= steady <= 2.0
    assert after_debt >= 1.5


def test_tpm_limit_slows_big_requests(server: LLMServer):
    # each request reserves max_tokens + prompt/4 (~200) and really uses about as much (the
    # server counts words), against 72k tpm = 1200/s with a burst of 1200: 6 at once, then
    # 6 per second
    server.responder = lambda p: " ".join(["word"] * 190)
    res = LLMClient(cfg(server, concurrency=12, tpm=72_000, max_tokens=190)).run_batch(reqs(12))
    assert all(r.ok for r in res)
    starts = sorted(q.started for q in server.chat_requests)
    assert starts[5] - starts[0] < 0.3
    assert starts[-1] - starts[0] >= 0.8


# -- cache ------------------------------------------------------------------------------------


def test_second_run_is_served_from_the_cache(server: LLMServer, tmp_path: Path):
    batch = reqs(6)
    first = LLMClient(cfg(server), cache_dir=tmp_path).run_batch(batch)
    assert len(server.chat_requests) == 6 and not any(r.cached for r in first)
    again = LLMClient(cfg(server), cache_dir=tmp_path)
    second = again.run_batch(batch)
    assert len(server.chat_requests) == 6  # nothing new went out
    assert all(r.cached and r.attempts == 0 for r in second)
    assert [r.text for r in second] == [r.text for r in first]
    assert [r.response_id for r in second] == [r.response_id for r in first]
    su = again.usage.steps["default"]
    assert (su.requests, su.cache_hits, su.prompt_tokens) == (0, 6, 0)
    assert su.cached_prompt_tokens == sum(r.prompt_tokens for r in first) > 0
    assert cache_path(tmp_path).exists()


def test_cache_key_changes_with_what_decides_the_reply(server: LLMServer, tmp_path: Path):
    base = LLMClient(cfg(server), cache_dir=tmp_path)
    req = Request.user("Which nerve?", prompt_version="p.v1")
    key = base.key(req)
    assert key == LLMClient(cfg(server), cache_dir=tmp_path).key(req)  # stable
    variants = {
        "model": LLMClient(cfg(server, model="other-model")).key(req),
        "temperature": LLMClient(cfg(server, temperature=0.7)).key(req),
        "max_tokens": LLMClient(cfg(server, max_tokens=5)).key(req),
        "seed": LLMClient(cfg(server, seed=1)).key(req),
        "endpoint": LLMClient(cfg(server, base_url="http://127.0.0.1:1/v1")).key(req),
        "prompt": base.key(Request.user("Which artery?", prompt_version="p.v1")),
        "version": base.key(Request.user("Which nerve?", prompt_version="p.v2")),
        "format": base.key(
            Request.user("Which nerve?", prompt_version="p.v1", response_format={"type": "x"})
        ),
    }
    assert key not in variants.values() and len(set(variants.values())) == len(variants)
    # what does not decide the reply does not split the cache
    assert base.key(Request.user("Which nerve?", prompt_version="p.v1", step="s", tag="q1")) == key
    assert LLMClient(cfg(server, concurrency=9, max_retries=0)).key(req) == key


def test_errors_are_not_cached(server: LLMServer, tmp_path: Path):
    server.fail_status = 500
    [bad] = LLMClient(cfg(server, max_retries=0), cache_dir=tmp_path).run_batch(reqs(1))
    assert bad.error == "http_500"
    server.fail_status = None
    [good] = LLMClient(cfg(server), cache_dir=tmp_path).run_batch(reqs(1))
    assert good.ok and not good.cached and len(server.chat_requests) == 2


def test_cache_never_holds_the_api_key(server: LLMServer, tmp_path: Path):
    server.queue(Fault(429, retry_after=0.05), Fault(500))
    client = LLMClient(cfg(server), cache_dir=tmp_path)
    assert all(r.ok for r in client.run_batch(reqs(5)))
    assert API_KEY not in repr(client) and API_KEY not in repr(client.__dict__)
    client.close()
    files = list((tmp_path / "llm").iterdir())
    assert files and any(f.name == "responses.sqlite" for f in files)
    for f in files:  # the database and any WAL / shm file beside it
        assert API_KEY.encode() not in f.read_bytes(), f
    assert len(ResponseCache(cache_path(tmp_path))) == 5


def test_same_request_twice_in_a_batch_is_sent_once(server: LLMServer):
    batch = [*reqs(3), *reqs(3)]
    res = LLMClient(cfg(server)).run_batch(batch)
    assert len(server.chat_requests) == 3
    assert [r.text for r in res[:3]] == [r.text for r in res[3:]]


def test_progress_reports_every_item_in_order(server: LLMServer, tmp_path: Path):
    LLMClient(cfg(server), cache_dir=tmp_path).run_batch(reqs(3))
    seen: list[tuple[int, int]] = []
    res = LLMClient(cfg(server), cache_dir=tmp_path).run_batch(
        reqs(7), progress=lambda d, t: seen.append((d, t))
    )
    assert len(res) == 7
    assert seen[0] == (3, 7) and seen[-1] == (7, 7)  # cached ones first, in one step
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_results_keep_input_order(server: LLMServer):
    def responder(prompt: str) -> str:
        if "number 0:" in prompt:
            time.sleep(0.3)  # the first item finishes last
        return prompt.split(":")[0]

    server.responder = responder
    res = LLMClient(cfg(server, concurrency=8)).run_batch(reqs(8))
    assert [r.text for r in res] == [f"Request number {i}" for i in range(8)]
    last = max(server.chat_requests, key=lambda q: q.ended)
    assert last.reply == "Request number 0"


# -- usage and cost ---------------------------------------------------------------------------


def test_usage_and_cost_add_up(server: LLMServer, tmp_path: Path):
    prices = {MODEL: ModelPrice(input_per_1m=2.0, output_per_1m=8.0)}
    server.queue(Fault(503))
    client = LLMClient(cfg(server, prices=prices), cache_dir=tmp_path)
    client.run_batch(reqs(4, step="extract"))
    client.run_batch(reqs(2, step="judge", what="Judgement"))
    served = [q for q in server.chat_requests if q.status == 200]
    p_tok = sum(len(q.prompt.split()) for q in served)  # the server counts words
    c_tok = sum(len((q.reply or "").split()) for q in served)
    rep = client.usage_report()
    total = rep["total"]
    assert total["requests"] == 7 and total["responses"] == 6 and total["retries"] == 1
    assert (total["prompt_tokens"], total["completion_tokens"]) == (p_tok, c_tok)
    assert rep["steps"]["extract"]["responses"] == 4 and rep["steps"]["judge"]["responses"] == 2
    expected = (p_tok * 2.0 + c_tok * 8.0) / 1e6
    assert total["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert sum(s["cost_usd"] for s in rep["steps"].values()) == pytest.approx(expected, abs=1e-6)
    assert rep["prices"] == {MODEL: {"input_per_1m": 2.0, "output_per_1m": 8.0}}
    # a re-run from the cache costs nothing and says how much it saved
    again = LLMClient(cfg(server, prices=prices), cache_dir=tmp_path)
    again.run_batch(reqs(4, step="extract"))
    t2 = again.usage_report()["total"]
    assert (t2["requests"], t2["cache_hits"], t2["cost_usd"]) == (0, 4, 0.0)
    assert t2["cached_prompt_tokens"] > 0
    # nothing sent costs nothing; without a price for the model, cost is unknown, not zero
    assert LLMClient(cfg(server)).usage_report()["total"]["cost_usd"] == 0.0
    unpriced = LLMClient(cfg(server))
    unpriced.run_batch(reqs(1))
    assert unpriced.usage_report()["total"]["cost_usd"] is None


# -- structured (JSON) blocks -----------------------------------------------------------------


class Diagnosis(BaseModel):
    answer: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)


@dataclass(frozen=True)
class Block:
    name: str = "diagnose"
    version: str = "diagnose.v1"
    reply: type[BaseModel] = Diagnosis


GOOD = '{"answer": "Dravet syndrome", "confidence": 0.9}'


def test_parse_reply_tolerates_fences_and_chatter():
    for text in (
        GOOD,
        f"```json\n{GOOD}\n```",
        f"```\n{GOOD}\n```",
        f"Sure! Here it is:\n{GOOD}\nHope that helps.",
    ):
        parsed = parse_reply(text, Diagnosis)
        assert isinstance(parsed, Diagnosis) and parsed.answer == "Dravet syndrome", text
    bad = parse_reply('{"answer": "x", "confid', Diagnosis)
    assert isinstance(bad, StepFailure) and bad.reason == "invalid_json"
    wrong = parse_reply('{"answer": "x", "confidence": 7}', Diagnosis)
    assert isinstance(wrong, StepFailure) and wrong.reason == "schema_mismatch"
    assert "confidence" in wrong.detail


def test_json_schema_mode_sends_the_schema(server: LLMServer):
    runner = StructuredRunner(LLMClient(cfg(server, json_mode="json_schema")))
    [out] = runner.run(Block(), ["Case 1: which diagnosis?"])
    assert isinstance(out, Diagnosis)  # the server built it from the schema it was sent
    [q] = server.chat_requests
    fmt = q.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "diagnose"
    assert fmt["json_schema"]["schema"] == Diagnosis.model_json_schema()
    assert [m["role"] for m in q.body["messages"]] == ["user"]


def test_prompt_mode_says_it_in_words(server: LLMServer):
    server.responder = lambda p: f"```json\n{GOOD}\n```"
    runner = StructuredRunner(LLMClient(cfg(server, json_mode="prompt")))
    [out] = runner.run(Block(), ["Case 2: which diagnosis?"])
    assert isinstance(out, Diagnosis) and out.confidence == 0.9
    [q] = server.chat_requests
    assert "response_format" not in q.body
    system = q.body["messages"][0]
    assert system["role"] == "system" and '"confidence"' in system["content"]


def test_truncated_json_gets_one_repair_then_a_reject_with_the_raw_text(server: LLMServer):
    cut = '{"answer": "Dravet syndr'
    # one at a time: case 3 (cut), case 4 (fine), the repair of case 3 (cut again)
    server.queue(Fault(reply=cut), Fault(200), Fault(reply=cut))
    runner = StructuredRunner(LLMClient(cfg(server, json_mode="json_schema", concurrency=1)))
    [out, fine] = runner.run(Block(), ["Case 3: which?", "Case 4: which?"], tags=["q3", "q4"])
    assert isinstance(fine, Diagnosis)
    assert isinstance(out, StepFailure) and out.reason == "invalid_json"
    assert out.raw == cut and "after one repair" in out.detail
    seen = server.chat_requests
    assert len(seen) == 3  # two first tries, one repair
    repair = seen[-1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": cut}
    assert "not valid JSON" in repair[-1]["content"]
    reject = out.to_reject("q3", "chain")
    assert (reject.id, reject.stage, reject.reason) == ("q3", "chain", "invalid_json")
    assert cut in reject.detail


def test_wrong_schema_is_repaired_when_the_server_answers_right(server: LLMServer):
    server.queue(Fault(reply='{"diagnosis": "Dravet syndrome"}'))
    client = LLMClient(cfg(server, json_mode="json_schema"))
    [out] = StructuredRunner(client).run(Block(), ["Case 5: which?"])
    assert isinstance(out, Diagnosis)
    first, repair = server.chat_requests
    assert "does not fit Diagnosis" in repair.body["messages"][-1]["content"]
    assert repair.body["response_format"] == first.body["response_format"]
    steps = client.usage_report()["steps"]
    assert steps["diagnose"]["responses"] == 1 and steps["diagnose.repair"]["responses"] == 1


def test_no_reply_at_all_is_an_llm_error_without_repair(server: LLMServer):
    server.fail_status = 503
    [out] = StructuredRunner(LLMClient(cfg(server, max_retries=1))).run(Block(), ["Case 6"])
    assert isinstance(out, StepFailure) and out.reason == "http_503" and out.raw == ""
    assert out.no_reply and out.step == "diagnose"
    assert len(server.chat_requests) == 2  # a retry, but no repair request


def test_structured_rerun_comes_from_the_cache(server: LLMServer, tmp_path: Path):
    server.queue(Fault(reply="not json at all"))
    c1 = LLMClient(cfg(server, json_mode="json_schema"), cache_dir=tmp_path)
    first = StructuredRunner(c1).run(Block(), ["Case 7", "Case 8"])
    n = len(server.chat_requests)
    assert n == 3 and all(isinstance(o, Diagnosis) for o in first)
    c2 = LLMClient(cfg(server, json_mode="json_schema"), cache_dir=tmp_path)
    again = StructuredRunner(c2).run(Block(), ["Case 7", "Case 8"])
    assert len(server.chat_requests) == n and again == first  # the repair was cached too
