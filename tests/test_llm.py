"""The thinking-path writers: the offline writer, and the OpenAI-compatible backend driven
against a real local HTTP server (tests/llm_server.py), never a patched client."""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections import Counter
from pathlib import Path

import jinja2
import polars as pl
import pytest
from llm_server import Fault, LLMServer, default_reply, use_key

from kgsynth.config import LLMConfig, load_config
from kgsynth.errors import ConfigError, LLMAuthError
from kgsynth.export import read_dataset
from kgsynth.export.hub import data_file
from kgsynth.llm.openai_backend import OpenAIGenerator, prompt_evidence, prompt_findings
from kgsynth.llm.prompts import THINKING_PATH
from kgsynth.paths.format import format_path, parse_path_line
from kgsynth.records import (
    EntityLink,
    EvidenceReport,
    FindingSupport,
    Generation,
    Hop,
    KGPath,
    LinkedQA,
    OptionEvidence,
    PathedQA,
    QARecord,
    Reject,
)
from kgsynth.sections import HEADERS, split_sections
from kgsynth.verify import Verifier
from kgsynth.writer.offline import OFFLINE_MODEL, OfflineWriter, phrases

KEY_ENV = "KGSYNTH_TEST_LLM_KEY"
API_KEY = "sk-kgsynth-test-S3CRET-7f3a9c1e5b"
MODEL = "kgsynth-test-model"
# MedQA rows in the flow run: all of them, since only ~17 single out gold in the KG evidence
LIMIT = 1273
REPAIR_MARK = "That reply could not be used"  # the thinking-path repair request's ask
PROMPT_FILE = (
    Path(__file__).resolve().parents[1] / "kgsynth" / "llm" / "prompts" / f"{THINKING_PATH}.j2"
)

# -- synthetic items (names with hyphens and brackets, hops walked both ways) ----------------

DRAVET = ("OMIM:607208", "Dravet syndrome")
SEIZURE = ("HP:0001250", "Seizure")
GAIT = ("HP:0002066", "Gait ataxia")
ATAXIA = ("HP:0001251", "Ataxia (cerebellar-type) [progressive]")
X_ALD = ("OMIM:300100", "X-linked adrenoleukodystrophy")


def _hop(head: tuple[str, str], rel: str, tail: tuple[str, str]) -> Hop:
    return Hop(head_id=head[0], head_name=head[1], relation=rel, tail_id=tail[0], tail_name=tail[1])


def _link(node: tuple[str, str], mention: str) -> EntityLink:
    return EntityLink(
        kg_id=node[0],
        name=node[1],
        type="phenotype",
        mention=mention,
        start=0,
        end=len(mention),
        score=1.0,
        method="exact",
    )


OPTIONS = {
    "A": "Rett syndrome",
    "B": "Dravet syndrome",
    "C": "X-linked adrenoleukodystrophy",
    "D": "Angelman syndrome",
}


def make_item(n: int = 0, answer_idx: str | None = "B", options: bool = True) -> PathedQA:
    answer_node = DRAVET if answer_idx != "C" else X_ALD
    qa = QARecord(
        id=f"q{n}",
        source="medqa",
        question=(
            f"Case {n}: a 3-year-old boy has had recurrent seizures since infancy and now walks "
            "with an unsteady, wide-based gait. Which diagnosis is most likely?"
        ),
        options=OPTIONS if options else {},
        answer=answer_node[1],
        answer_idx=answer_idx if options else None,
    )
    linked = LinkedQA(
        qa=qa,
        question_entities=[_link(SEIZURE, "seizures"), _link(GAIT, "unsteady gait")],
        answer_entities=[_link(answer_node, answer_node[1])],
    )
    paths = [
        KGPath(
            start_id=SEIZURE[0],
            end_id=answer_node[0],
            score=0.0,
            hops=[_hop(answer_node, "has_phenotype", SEIZURE)],
        ),
        KGPath(
            start_id=GAIT[0],
            end_id=answer_node[0],
            score=1.5,
            hops=[_hop(GAIT, "is_a", ATAXIA), _hop(answer_node, "has_phenotype", ATAXIA)],
        ),
    ]
    return PathedQA(linked=linked, paths=paths, n_paths_found=2)


def path_lines(text: str) -> list[str]:
    parts = split_sections(text)
    assert parts is not None, text
    return [re.sub(r"^\s*\d+[.)]\s*", "", ln) for ln in parts[0].splitlines() if ln.strip()]


def with_evidence(item: PathedQA) -> PathedQA:
    """The item with an evidence report that ranks its gold option first (the offline
    writer concludes from the evidence; tests/test_writer.py covers it in depth)."""
    qa = item.linked.qa
    if not qa.options:
        return item
    supports = [
        FindingSupport(
            finding_id=p.start_id,
            finding_name=next(
                e.name for e in item.linked.question_entities if e.kg_id == p.start_id
            ),
            assertion="present",
            weight=1.0,
            path=p,
        )
        for p in item.paths
    ]
    opts = [
        OptionEvidence(
            letter=k,
            text=t,
            kg_ids=[],
            score=float(len(supports)) if k == qa.answer_idx else 0.0,
            supports=supports if k == qa.answer_idx else [],
        )
        for k, t in qa.options.items()
    ]
    ranking = [o.letter for o in sorted(opts, key=lambda o: -o.score)]
    report = EvidenceReport(
        options=opts, ranking=ranking, best=ranking[0], gold=qa.answer_idx, margin=1.0
    )
    return item.model_copy(update={"evidence": report})


# -- offline writer -------------------------------------------------------------------------


@pytest.mark.parametrize("options", [True, False])
def test_offline_is_deterministic_and_well_formed(options: bool):
    items = [with_evidence(make_item(0, "B", options)), with_evidence(make_item(1, "C", options))]
    first = OfflineWriter().generate(items)
    again = OfflineWriter().generate(items)
    assert first == again
    for item, gen in zip(items, first, strict=True):
        if not options:  # no options, no per-option evidence: nothing to conclude from
            assert isinstance(gen, Reject) and gen.reason == "no_evidence"
            continue
        assert isinstance(gen, Generation)
        text = gen.reasoning
        pos = [text.find(h) for h in HEADERS]
        assert all(p >= 0 for p in pos) and pos == sorted(pos), text
        parts = split_sections(text)
        assert parts is not None and parts[2] == gen.conclusion
        assert gen.generator == "offline"
        assert gen.model == OFFLINE_MODEL
        assert gen.prompt_version == phrases()["version"] == "differential.v4"
        qa = item.linked.qa
        assert qa.answer in gen.conclusion
        if qa.answer_idx:
            assert f"{qa.answer_idx}:" in gen.conclusion
        assert Verifier.answer_agrees(qa, gen.conclusion) is None


def test_offline_path_lines_round_trip():
    item = with_evidence(make_item())
    gen = OfflineWriter().write(item)
    assert isinstance(gen, Generation)
    lines = path_lines(gen.reasoning)
    assert lines == [format_path(p) for p in item.paths]
    for line, path in zip(lines, item.paths, strict=True):
        triples = parse_path_line(line)
        assert triples == [(h.head_name, h.relation, h.tail_name) for h in path.hops], line
    # a backward hop is written with <-[...]- and still parses to the KG's own direction
    assert lines[0] == f"{SEIZURE[1]} <-[has_phenotype]- {DRAVET[1]}"


def test_offline_without_paths_is_rejected():
    item = make_item().model_copy(update={"paths": []})
    res = OfflineWriter().generate([item])
    assert len(res) == 1 and isinstance(res[0], Reject)
    assert res[0].reason == "no_paths" and res[0].stage == "generate" and res[0].id == "q0"


# -- the OpenAI-compatible backend against a real local server -------------------------------


@pytest.fixture(scope="module")
def llm_server():
    with LLMServer(api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
def server(llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> LLMServer:
    llm_server.reset()
    use_key(monkeypatch, KEY_ENV, API_KEY)
    return llm_server


def llm_cfg(srv: LLMServer, **kw) -> LLMConfig:
    base = {
        "base_url": srv.base_url,
        "model": MODEL,
        "api_key_env": KEY_ENV,
        "max_retries": 0,
        "timeout_s": 10.0,
        "concurrency": 2,
        "temperature": 0.3,
        "max_tokens": 777,
        "seed": 11,
    }
    return LLMConfig(**(base | kw))


def test_server_speaks_the_openai_protocol(server: LLMServer):
    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == ["kgsynth-test-model"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0).models.list()


def test_openai_success_rows_carry_model_and_versioned_prompt(server: LLMServer):
    cfg = llm_cfg(server)
    items = [make_item(0, "B"), make_item(1, "C")]
    gen = OpenAIGenerator(cfg)
    assert gen.name == "openai" and gen.model == MODEL and gen.prompt_version == THINKING_PATH
    res = gen.generate(items)
    for item, r in zip(items, res, strict=True):
        assert isinstance(r, Generation), r
        assert r.generator == "openai" and r.model == MODEL
        assert r.prompt_version == "thinking_path.v5"
        assert split_sections(r.reasoning) is not None
        assert Verifier.answer_agrees(item.linked.qa, r.conclusion) is None
        assert path_lines(r.reasoning) == [format_path(p) for p in item.paths]

    reqs = server.chat_requests
    assert len(reqs) == 2 and all(r.status == 200 for r in reqs)
    # the prompt is the versioned template file, rendered for each item
    tpl = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    tmpl = tpl.from_string(PROMPT_FILE.read_text("utf-8"))
    expected = {
        tmpl.render(
            question=it.linked.qa.question,
            options=it.linked.qa.options,
            answer=it.linked.qa.answer,
            findings=prompt_findings(it)[0],
            negatives=prompt_findings(it)[1],
            evidence=prompt_evidence(it),
            paths=[format_path(p) for p in it.paths],
        )
        for it in items
    }
    assert {r.prompt for r in reqs} == expected
    for r in reqs:
        assert r.method == "POST" and r.path == "/v1/chat/completions"
        assert r.headers["authorization"] == f"Bearer {API_KEY}"
        body = r.body
        assert body["model"] == MODEL
        assert body["temperature"] == 0.3 and body["max_tokens"] == 777 and body["seed"] == 11
        assert [m["role"] for m in body["messages"]] == ["user"]
        assert "Finding reasoning paths:" in r.prompt and "Options:\nA. Rett syndrome" in r.prompt
        assert r.reply is not None and r.reply in {g.reasoning for g in res}


def test_openai_records_the_model_the_endpoint_reports(server: LLMServer):
    server.model = "kgsynth-test-model-2025-01-01"
    try:
        [r] = OpenAIGenerator(llm_cfg(server)).generate([make_item()])
    finally:
        server.model = None
    assert isinstance(r, Generation) and r.model == "kgsynth-test-model-2025-01-01"
    assert server.chat_requests[0].body["model"] == MODEL


def test_openai_retries_5xx_then_succeeds(server: LLMServer):
    server.queue(Fault(500), Fault(503))
    [r] = OpenAIGenerator(llm_cfg(server, max_retries=2)).generate([make_item()])
    assert isinstance(r, Generation), r
    reqs = server.chat_requests
    assert [q.status for q in reqs] == [500, 503, 200]
    assert [q.headers.get("x-stainless-retry-count") for q in reqs] == ["0", "1", "2"]
    assert len({q.prompt for q in reqs}) == 1  # the same request, retried


def test_openai_honours_retry_after_on_429(server: LLMServer):
    server.queue(Fault(429, retry_after=1.2))
    t0 = time.monotonic()
    [r] = OpenAIGenerator(llm_cfg(server, max_retries=1)).generate([make_item()])
    assert isinstance(r, Generation), r
    first, second = server.chat_requests
    assert (first.status, second.status) == (429, 200)
    # default backoff for a first retry is at most 0.5 s; the server asked for 1.2 s
    assert second.started - first.ended >= 1.1
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize(
    "reply",
    [
        "I'm sorry, I cannot help with that request.",
        "",
        "Finding reasoning paths:\n1. a\nReasoning Process:\n1. b\nConclusion:\n   ",
        "Reasoning Process:\n1. b\nFinding reasoning paths:\n1. a\nConclusion:\nThe answer is B.",
    ],
    ids=["prose", "empty", "empty-conclusion", "out-of-order"],
)
def test_openai_unparseable_reply_is_rejected_with_reason(server: LLMServer, reply: str):
    server.responder = lambda prompt: reply
    [r] = OpenAIGenerator(llm_cfg(server)).generate([make_item(7)])
    assert isinstance(r, Reject), r
    assert (r.id, r.stage, r.reason) == ("q7", "generate", "unparseable_response")
    assert "three sections" in r.detail


MALFORMED = {
    "html-page": ("<html><body>Bad gateway</body></html>", "text/html"),
    "plain-text": ("upstream says hi", "text/plain"),
    "broken-json": ('{"choices": [', "application/json"),
    "no-choices": ('{"id": "x", "object": "chat.completion", "model": "m"}', "application/json"),
    "empty-choices": ('{"choices": []}', "application/json"),
    "null-message": ('{"choices": [{"index": 0, "message": null}]}', "application/json"),
    "content-parts": (
        '{"choices": [{"index": 0, "message": {"role": "assistant", '
        '"content": [{"type": "text", "text": "hi"}]}}]}',
        "application/json",
    ),
    "json-list": ("[1, 2]", "application/json"),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_openai_malformed_200_rejects_one_row_not_the_batch(server: LLMServer, kind: str):
    body, ctype = MALFORMED[kind]
    server.queue(Fault(200, body=body, content_type=ctype))
    res = OpenAIGenerator(llm_cfg(server, concurrency=1)).generate([make_item(0), make_item(1)])
    assert isinstance(res[0], Reject), res[0]
    # no chat completion came back: an LLM failure, not a verdict on a reply
    assert (res[0].id, res[0].stage, res[0].reason) == ("q0", "llm", "unparseable_response")
    assert "thinking_path" in res[0].detail
    assert isinstance(res[1], Generation)  # the next row is unaffected


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_openai_malformed_200_is_retried(server: LLMServer, kind: str):
    body, ctype = MALFORMED[kind]
    server.queue(Fault(200, body=body, content_type=ctype))
    [r] = OpenAIGenerator(llm_cfg(server, max_retries=1)).generate([make_item(0)])
    assert isinstance(r, Generation), r
    assert len(server.chat_requests) == 2


def test_openai_keeps_input_order_with_mixed_outcomes(server: LLMServer):
    """A slow first reply and a bad middle one: results still line up with their items."""
    items = [make_item(i, "B" if i % 2 else "C") for i in range(5)]

    def responder(prompt: str) -> str:
        if "Case 0:" in prompt:
            time.sleep(0.3)
        if "Case 2:" in prompt or REPAIR_MARK in prompt:  # its repair request too
            return "no idea"
        return default_reply(prompt)

    server.responder = responder
    res = OpenAIGenerator(llm_cfg(server, concurrency=4)).generate(items)
    assert [type(r).__name__ for r in res] == ["Generation"] * 2 + ["Reject"] + ["Generation"] * 2
    assert res[2].id == "q2"
    for item, r in zip(items, res, strict=True):
        if isinstance(r, Generation):
            assert Verifier.answer_agrees(item.linked.qa, r.conclusion) is None


@pytest.mark.parametrize("status", [500, 503])
def test_openai_persistent_failure_is_an_llm_error(server: LLMServer, status: int):
    server.fail_status = status
    [r] = OpenAIGenerator(llm_cfg(server, max_retries=1)).generate([make_item(3)])
    assert isinstance(r, Reject), r
    assert (r.id, r.stage, r.reason) == ("q3", "llm", f"http_{status}")
    assert f"HTTP {status}" in r.detail and "after 2 attempts" in r.detail
    assert len(server.chat_requests) == 2  # the first try and one retry, no more


def test_openai_wrong_key_stops_at_once_without_retries(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-not-the-right-one")
    gen = OpenAIGenerator(llm_cfg(server, max_retries=3))
    with pytest.raises(LLMAuthError) as e:
        gen.generate([make_item(i) for i in range(3)])
    assert f"${KEY_ENV} (HTTP 401)" in str(e.value) and "sk-not-the-right-one" not in str(e.value)
    assert 401 in [q.status for q in server.chat_requests]
    assert len(server.chat_requests) <= 2  # the requests in flight at once, no retries


def test_openai_slow_reply_times_out_as_llm_error(server: LLMServer):
    server.delay_s = 2.0
    t0 = time.monotonic()
    [r] = OpenAIGenerator(llm_cfg(server, timeout_s=0.3)).generate([make_item()])
    assert time.monotonic() - t0 < 1.5
    assert isinstance(r, Reject) and (r.stage, r.reason) == ("llm", "timeout")
    assert "Timeout" in r.detail


def test_openai_slow_reply_within_timeout_succeeds(server: LLMServer):
    server.queue(Fault(200, delay_s=0.3))
    [r] = OpenAIGenerator(llm_cfg(server, timeout_s=5)).generate([make_item()])
    assert isinstance(r, Generation)


def test_openai_unreachable_endpoint_is_an_llm_error(server: LLMServer):
    probe = LLMServer(api_key=API_KEY).start()
    dead_url = probe.base_url
    probe.stop()  # nothing listens on that port any more
    cfg = llm_cfg(server, base_url=dead_url)
    [r] = OpenAIGenerator(cfg).generate([make_item()])
    assert isinstance(r, Reject) and (r.stage, r.reason) == ("llm", "connection_error")
    assert "Connection" in r.detail


@pytest.mark.parametrize("value", [None, ""])
def test_openai_missing_api_key_names_the_variable(server, monkeypatch, value):
    var = "KGSYNTH_TEST_UNSET_KEY"
    if value is None:
        monkeypatch.delenv(var, raising=False)
    else:
        monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        OpenAIGenerator(llm_cfg(server, api_key_env=var))
    assert server.chat_requests == []


def test_api_key_never_logged(server: LLMServer, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpcore", "kgsynth"):
        caplog.set_level(logging.DEBUG, logger=name)
    server.queue(Fault(500), Fault(429, retry_after=0.1))
    server.responder = lambda p: (
        "garbage" if "Case 2:" in p or REPAIR_MARK in p else default_reply(p)
    )
    gen = OpenAIGenerator(llm_cfg(server, max_retries=2, concurrency=1))
    res = gen.generate([make_item(i) for i in range(3)])
    server.fail_status = 500
    res += OpenAIGenerator(llm_cfg(server, max_retries=0)).generate([make_item(9)])
    server.fail_status = None
    monkeypatch.setenv(KEY_ENV, API_KEY + "-wrong")
    with pytest.raises(LLMAuthError) as refused:
        OpenAIGenerator(llm_cfg(server)).generate([make_item(10)])
    assert API_KEY not in str(refused.value)
    assert Counter(type(r).__name__ for r in res) == {"Generation": 2, "Reject": 2}
    # the key did go over the wire, and the client did log at DEBUG ...
    assert any(q.headers.get("authorization") == f"Bearer {API_KEY}" for q in server.requests)
    assert any(r.name.startswith("openai") and r.levelno == logging.DEBUG for r in caplog.records)
    assert any(
        r.name.startswith("kgsynth") and r.levelno == logging.WARNING for r in caplog.records
    )
    # ... but never the key itself, in any message or argument
    assert API_KEY not in caplog.text
    for rec in caplog.records:
        assert API_KEY not in rec.getMessage()
        assert API_KEY not in repr(rec.args)
    assert not any(API_KEY in repr(r) for r in res)


def test_openai_concurrency_gives_overlapping_requests(server: LLMServer):
    server.delay_s = 0.3
    items = [make_item(i) for i in range(8)]
    t0 = time.monotonic()
    res = OpenAIGenerator(llm_cfg(server, concurrency=4)).generate(items)
    elapsed = time.monotonic() - t0
    assert all(isinstance(r, Generation) for r in res)
    assert 2 <= server.max_in_flight <= 4
    assert elapsed < 8 * 0.3  # serial would take at least 2.4 s


def test_openai_concurrency_one_is_serial(server: LLMServer):
    server.delay_s = 0.1
    res = OpenAIGenerator(llm_cfg(server, concurrency=1)).generate([make_item(i) for i in range(3)])
    assert all(isinstance(r, Generation) for r in res)
    assert server.max_in_flight == 1 and len(server.chat_requests) == 3


def test_openai_empty_batch_sends_nothing(server: LLMServer):
    assert OpenAIGenerator(llm_cfg(server)).generate([]) == []
    assert server.requests == []


# -- the whole flow with generator=openai ------------------------------------------------------


class FlowResponder:
    """Valid replies, except a few numbered ones that the verifier must catch."""

    def __init__(self) -> None:
        self._n = itertools.count(1)
        self._lock = threading.Lock()
        self.kinds: dict[str, str] = {}  # reply text -> what was injected

    def __call__(self, prompt: str) -> str:
        if REPAIR_MARK in prompt:  # the repair of the unparseable reply: unparseable again
            return "Sorry, I still can't answer medical questions."
        with self._lock:
            n = next(self._n)
        good = default_reply(prompt)
        if n == 1:
            reply, kind = "Sorry, I can't answer medical questions.", "unparseable"
        elif n == 2:  # a wrong option letter
            m = re.search(r"The answer is ([A-J]): ", good)
            assert m, good
            wrong = next(k for k in "ABCDEFGHIJ" if k != m.group(1) and f"\n{k}. " in prompt)
            reply = good.replace(f"The answer is {m.group(1)}:", f"The answer is {wrong}:")
            kind = "answer_match"
        elif n == 3:  # an invented path
            reply = good.replace(
                "Reasoning Process:",
                "9. Seizure -[cures]-> Common cold\nReasoning Process:",
            )
            kind = "kg_faithful"
        elif n == 4:  # leakage wording
            reply = good.replace("Conclusion:", "4. This matches the given answer.\nConclusion:")
            kind = "no_leakage"
        else:
            reply, kind = good, "good"
        with self._lock:
            self.kinds[reply] = kind
        return reply


@pytest.fixture(scope="module")
def openai_build(medqa_path: Path, cache_dir: Path, tmp_path_factory, llm_server: LLMServer):
    out = tmp_path_factory.mktemp("openai-build")
    llm_server.reset()
    responder = FlowResponder()
    llm_server.responder = responder
    llm_server.queue(Fault(500))  # the first request fails for good (max_retries=0)
    cfg = load_config(
        None,
        {
            "qa": [medqa_path],
            "kg": "hpo",
            "out": out,
            "cache_dir": cache_dir,
            "limit": LIMIT,
            "generator": "openai",
            "llm": {
                "base_url": llm_server.base_url,
                "model": MODEL,
                "api_key_env": KEY_ENV,
                "concurrency": 4,
                "max_retries": 0,
                "timeout_s": 30,
            },
            # the thinking-path step alone; the chain steps are covered in test_chain_http
            "chain": {"extract_entities": False, "prune_paths": False, "quality_filter": False},
            # the test server's canned sentences are no KG claims (test_claims covers them)
            "verify": {"claims": {"enabled": False}},
        },
    )
    from flows.build import build_dataset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, API_KEY)
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        result = build_dataset(cfg)
    reqs = list(llm_server.chat_requests)
    llm_server.reset()
    return result, out, reqs, responder


def test_openai_flow_exports_server_rows_and_counts_add_up(openai_build):
    result, out, reqs, responder = openai_build
    rep = result.report
    c = rep.counts
    data = read_dataset(out)
    rejects = pl.read_parquet(out / "rejects.parquet")
    summary = json.loads((out / "build.json").read_text())

    assert c["input"] == LIMIT
    assert c["input"] == data.height + rejects.height == rep.exported + len(rep.rejects)
    assert summary["exported"] + summary["rejected"] == LIMIT
    assert data.height == c["verify"] > 0
    # one request per item that reached generation (no retries configured), and one repair
    # request for the unparseable reply
    assert len(reqs) == c["paths"] + 1 and c["paths"] >= 6
    assert sum(REPAIR_MARK in q.prompt for q in reqs) == 1
    assert [q.status for q in reqs].count(500) == 1
    assert all(q.body["model"] == MODEL for q in reqs)

    by_reason = Counter(zip(rejects["stage"], rejects["reason"], strict=True))
    assert by_reason[("llm", "http_500")] == 1  # no reply: an LLM failure, not a verdict
    assert by_reason[("generate", "unparseable_response")] == 1  # after its repair
    assert c["generate"] == c["paths"] - 2

    # every exported row came from the server, through the backend
    assert set(data["generator"]) == {"openai"}
    assert set(data["model"]) == {MODEL}
    assert set(data["prompt_version"]) == {THINKING_PATH}
    served = {q.reply for q in reqs if q.status == 200}
    assert all(text in served and responder.kinds[text] == "good" for text in data["reasoning"])
    assert summary["stages"]["generate"] == {
        "name": "openai",
        "model": MODEL,
        "prompt_version": THINKING_PATH,
    }


def test_openai_flow_still_verifies(openai_build):
    result, out, _, responder = openai_build
    c = result.report.counts
    data = read_dataset(out)
    rejects = pl.read_parquet(out / "rejects.parquet")
    assert "verify" in result.report.seconds
    assert data["checks"].struct.field("passed").all()
    failed = rejects.filter(pl.col("stage") == "verify")
    # the three bad replies that parsed were caught, each by its own check; good ones passed
    assert sorted(failed["reason"]) == ["answer_match", "kg_faithful", "no_leakage"]
    assert c["verify"] == c["generate"] - 3
    assert sorted(responder.kinds.values()).count("good") == c["verify"]


def test_openai_flow_outputs_never_hold_the_key(openai_build):
    _, out, reqs, _ = openai_build
    assert all(q.headers["authorization"] == f"Bearer {API_KEY}" for q in reqs)
    files = [p for p in out.rglob("*") if p.is_file()]
    names = {"train-00000-of-00001.parquet", "rejects.parquet", "README.md", "build.json"}
    assert {p.name for p in files} >= names
    for p in files:
        assert API_KEY.encode() not in p.read_bytes(), p
    for name in (data_file(), "rejects.parquet"):
        frame = pl.read_parquet(out / name)
        assert API_KEY not in json.dumps(frame.to_dicts(), default=str), name
    summary = json.loads((out / "build.json").read_text())
    assert summary["config"]["llm"]["api_key_env"] == KEY_ENV


def test_openai_flow_reports_llm_usage_in_summary_and_card(openai_build):
    result, out, all_reqs, _ = openai_build
    usage = json.loads((out / "build.json").read_text())["llm_usage"]
    assert usage == result.report.llm_usage
    # the one repair request is counted under a step of its own
    repair = usage["steps"]["thinking_path.repair"]
    assert (repair["requests"], repair["responses"], repair["errors"]) == (1, 1, 0)
    reqs = [q for q in all_reqs if REPAIR_MARK not in q.prompt]
    step = usage["steps"]["thinking_path"]
    served = [q for q in reqs if q.status == 200]
    assert step["model"] == MODEL
    assert (step["requests"], step["responses"], step["errors"]) == (len(reqs), len(served), 1)
    # the server reports usage per reply (it counts words); the run adds them up
    assert step["prompt_tokens"] == sum(len(q.prompt.split()) for q in served) > 0
    assert step["completion_tokens"] == sum(len((q.reply or "").split()) for q in served) > 0
    assert usage["total"]["cost_usd"] is None  # no price configured for the test model
    card = (out / "README.md").read_text()
    assert "## LLM usage (this run)" in card
    assert f"| thinking_path | `{MODEL}` | {len(reqs)} |" in card


def test_every_canonical_relation_has_an_offline_template():
    from kgsynth.kg.vocab import RELATIONS as CANONICAL
    from kgsynth.llm.prompts import relation_templates

    missing = set(CANONICAL) - set(relation_templates())
    assert not missing, f"relations without an offline template: {sorted(missing)}"
