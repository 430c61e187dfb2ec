"""A small, real OpenAI-compatible HTTP server for tests (no mocks of the openai client).

It listens on 127.0.0.1 with an ephemeral port in a background thread and serves
POST /v1/chat/completions and GET /v1/models. Completions are deterministic: by default the
reply copies the knowledge-graph path lines of the user prompt and concludes with the option
whose text matches the prompt's reference answer (thinking_path v1/v2) or, without one, the
option its per-option evidence favours (v3, v4), in the three-part layout
("Finding reasoning paths:", "Reasoning Process:", "Conclusion:"). A test can swap in its own
`responder` (prompt -> reply text).

Faults, configurable per test:
    server.queue(Fault(500), Fault(503))         # the next requests fail, then normal replies
    server.queue(Fault(429, retry_after=1))      # a rate limit with a Retry-After header
    server.fail_status = 500                     # every request fails
    server.delay_s = 0.2                         # every reply is slow
    server.responder = lambda prompt: "garbage"  # an unparseable reply
    server.queue(Fault(200, body="<html>", content_type="text/html"))  # a malformed body
    server.queue(Fault(reset=True))              # the socket is reset, no response at all
    server.queue(Fault(truncate=True))           # half the body, then the connection closes
    server.queue(Fault(reply='{"ans'))           # a normal completion with this content
                                                 # (truncated or wrong-schema JSON)
    server.fault_for = lambda rec: Fault(503) if "Case 7" in rec.prompt else None
                                                 # a fault chosen per request, every time
                                                 # (a queued fault goes first)

Requests that carry `response_format` json_schema get JSON built from that schema
(`schema_instance`), or whatever `server.json_responder(request)` returns. Every reply
reports token usage (whitespace-separated words). `delay_s` holds each reply in its own
thread, so a fixed latency does not serialise requests: the server sustains well over
320 requests/s at 64 concurrent with 200 ms latency.

The Batch API, as OpenAI serves it: POST /v1/files (multipart, purpose=batch), GET
/v1/files/{id} and /v1/files/{id}/content, POST /v1/batches, GET /v1/batches/{id} and POST
/v1/batches/{id}/cancel. A batch's lines are answered by the chat endpoint's own logic
(responder, json_responder, fail_status, queued faults and fault_for, each line as one
request, recorded in `server.batch_lines`), so batch and online replies are the same. A line
that gets an error status goes to the error file, as OpenAI does. How each batch runs:
    server.batch_default = BatchPlan(polls=3)         # in_progress for 3 status polls
    server.batch_default = BatchPlan(seconds=5)       # ... or for 5 s after creation
    server.queue_batches(BatchPlan(expire=True, answered=4))  # the next batch expires with
                                                      # only its first 4 lines answered (the
                                                      # rest: batch_expired in the error file)
    BatchPlan(expire=True, leave=lambda rec: "Case 7" in rec.prompt)  # ... these unanswered
    BatchPlan(errors_in_output=True)                  # failed lines in the output file
    BatchPlan(fail=True)                              # the batch fails validation
    server.queue_control(Fault(503))                  # the next files/batches call fails
`server.batches` holds every batch created (`stats()["batches_created"]`, also after a
`reset()`, which keeps batches and files but not the plans).

Every request (method, path, headers, JSON body, status, timing, whether the whole response
went out) is recorded in `server.requests`; `server.max_in_flight` is the most requests ever
handled at once. `GET /_stats` (no key needed) returns the counters as JSON, for a server
run as a separate process: `python tests/llm_server.py --latency-ms 200 --api-key KEY`
prints `LISTENING <port>` and serves until stdin closes or it gets SIGTERM
(`--batch-seconds 5` / `--batch-polls 3` set the batch plan).
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[str], str]
JsonResponder = Callable[["RecordedRequest"], str]

_OPTION = re.compile(r"^([A-J])\. (.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*\S)\s*$")
_REFERENCE = re.compile(r"^Reference answer[^:]*:\s*(.*)$", re.MULTILINE)
_EVIDENCE_SCORE = re.compile(r"^Option ([A-Z]) \(.*\), evidence score (-?[\d.]+):$", re.MULTILINE)


@dataclass(frozen=True)
class Fault:
    """One injected failure: an HTTP error status, a raw body, or a normal reply after a delay."""

    status: int = 500
    retry_after: float | None = None  # seconds, sent as the Retry-After header
    delay_s: float = 0.0
    message: str = "injected failure"
    body: str | None = None  # sent verbatim with `status` instead of any JSON
    content_type: str = "application/json"
    reply: str | None = None  # a normal completion (HTTP 200) with this content
    reset: bool = False  # reset the connection (RST) instead of answering
    truncate: bool = False  # HTTP 200 headers and half of a normal body, then close


@dataclass(frozen=True)
class BatchPlan:
    """How a batch runs: in_progress for `polls` status polls and at least `seconds` after
    creation, then completed (or expired, or failed)."""

    polls: int = 1
    seconds: float = 0.0
    expire: bool = False  # ends `expired`; its unanswered lines: batch_expired, error file
    answered: int | None = None  # with expire: lines answered before it (None: see leave)
    leave: Callable[[RecordedRequest], bool] | None = None  # with expire: lines left (all)
    errors_in_output: bool = False  # lines with an error status go to the output file
    fail: bool = False  # ends `failed` (as when the input file does not validate)


@dataclass
class ServedBatch:
    id: str
    plan: BatchPlan
    input_file_id: str
    lines: list[dict[str, Any]]  # the input file's lines, parsed
    metadata: Any
    completion_window: str
    created: float  # time.monotonic()
    created_at: int  # time.time()
    polls: int = 0
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: Any = None

    @property
    def custom_ids(self) -> list[str]:
        return [str(line.get("custom_id")) for line in self.lines]

    def body(self) -> dict[str, Any]:
        """The OpenAI batch object."""
        ended = {"completed": "completed_at", "expired": "expired_at", "failed": "failed_at"}
        times = {
            k: None
            for k in (
                "in_progress_at", "finalizing_at", "completed_at", "failed_at",
                "expired_at", "cancelling_at", "cancelled_at",
            )
        }  # fmt: skip
        if self.status != "validating":
            times["in_progress_at"] = self.created_at
        if self.status in ended:
            times[ended[self.status]] = int(time.time())
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": self.errors,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 86400,
            **times,
            "request_counts": self.counts
            or {"total": len(self.lines), "completed": 0, "failed": 0},
            "metadata": self.metadata,
        }


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None
    started: float
    ended: float = 0.0
    status: int = 0
    reply: str | None = None  # completion text sent back, if any
    response_id: str | None = None  # the completion's "id", if one was sent
    completed: bool = False  # the whole response was written to the socket

    @property
    def prompt(self) -> str:
        """The user message of a chat request ("" when there is none)."""
        if not isinstance(self.body, dict):
            return ""
        msgs = [m for m in self.body.get("messages", []) if m.get("role") == "user"]
        return str(msgs[-1].get("content", "")) if msgs else ""

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The schema of a `response_format` json_schema request, else None."""
        fmt = self.body.get("response_format") if isinstance(self.body, dict) else None
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            return schema if isinstance(schema, dict) else None
        return None


# -- the deterministic default writer ---------------------------------------------------------


LOOPBACK = "127.0.0.1,localhost"


def use_key(env: Any, key_env: str, api_key: str) -> None:
    """Put a test's API key in its variable (`env`: a pytest MonkeyPatch) and keep any
    proxy configured in the environment off the loopback server."""
    env.setenv(key_env, api_key)
    for var in ("NO_PROXY", "no_proxy"):
        env.setenv(var, LOOPBACK)


def prompt_options(prompt: str) -> dict[str, str]:
    """Option letter -> text, from the "Options:" block of a rendered prompt."""
    lines = prompt.splitlines()
    try:
        start = lines.index("Options:") + 1
    except ValueError:
        return {}
    out: dict[str, str] = {}
    for line in lines[start:]:
        m = _OPTION.match(line)
        if not m:
            break
        out[m.group(1)] = m.group(2).strip()
    return out


def prompt_reference(prompt: str) -> str | None:
    m = _REFERENCE.search(prompt)
    return m.group(1).strip() if m else None


def prompt_paths(prompt: str) -> list[str]:
    """The numbered path lines between the paths header and "Instructions:"."""
    start = prompt.find("Knowledge-graph paths")
    end = prompt.find("\nInstructions:", start)
    if start < 0 or end < 0:
        return []
    block = prompt[start:end].splitlines()[1:]
    return [m.group(1) for line in block if (m := _NUMBERED.match(line)) and "-[" in line]


def prompt_favoured(prompt: str, options: dict[str, str]) -> str:
    """The option the prompt's per-option evidence favours: the highest evidence score (ties:
    the first listed), as a model that follows the evidence would decide; without evidence,
    the option the last path ends at, else the first option."""
    scores = {m.group(1): float(m.group(2)) for m in _EVIDENCE_SCORE.finditer(prompt)}
    if scores:
        best = max(scores, key=lambda k: (scores[k], -list(scores).index(k)))
        return options.get(best, "")
    paths = prompt_paths(prompt)
    if paths:
        end = re.split(r"-\]-?>? ?", paths[-1])[-1].strip()
        for text in options.values():
            if text.lower() in end.lower() or end.lower() in text.lower():
                return text
    return next(iter(options.values()), "")


def default_reply(prompt: str) -> str:
    """A valid three-part reply: the prompt's paths copied verbatim and the option that a
    reference answer names (v1/v2 prompts) or that the evidence favours (v3, v4)."""
    paths = prompt_paths(prompt)
    options = prompt_options(prompt)
    answer = prompt_reference(prompt) or prompt_favoured(prompt, options)
    letter = next((k for k, v in options.items() if v.lower() == answer.lower()), None)
    listed = "\n".join(f"{i}. {p}" for i, p in enumerate(paths, 1))
    # the first path's start: a finding named in every option's sentence as its reason
    finding = re.split(r" <?-\[", paths[0], maxsplit=1)[0] if paths else "the findings"
    steps = [
        "The patient's findings are the starting points of the reasoning.",
        f"Each link followed from {finding} ends at {answer or 'the diagnosis'}.",
    ]
    steps += [
        f"Option {k}, {v}, is not reached from {finding} by these links, unlike {answer}."
        for k, v in options.items()
        if k != letter
    ]
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
    conclusion = f"The answer is {letter}: {answer}." if letter else f"The answer is {answer}."
    return (
        f"Finding reasoning paths:\n{listed}\nReasoning Process:\n{numbered}\n"
        f"Conclusion:\n{conclusion}"
    )


def schema_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A small value valid against a (pydantic-generated) JSON Schema: every property filled,
    strings long enough, the first enum value or anyOf branch that is not null."""
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return schema_instance(root.get("$defs", {})[name], root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            branches = [b for b in schema[key] if b.get("type") != "null"] or schema[key]
            return schema_instance(branches[0], root)
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: schema_instance(v, root) for k, v in props.items()}
    if kind == "array":
        n = schema.get("minItems", 1)
        return [schema_instance(schema.get("items", {"type": "string"}), root) for _ in range(n)]
    if kind == "string":
        return "x" * max(schema.get("minLength", 0), 7)
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    return None


def schema_reply(rec: RecordedRequest) -> str:
    schema = rec.json_schema
    return json.dumps(schema_instance(schema) if schema is not None else {})


# -- the server --------------------------------------------------------------------------------


class LLMServer:
    """Start with `with LLMServer(api_key=...) as srv:`; `srv.base_url` ends in /v1."""

    def __init__(
        self,
        api_key: str = "sk-test-key",
        model: str | None = None,
        responder: Responder | None = None,
    ) -> None:
        self.api_key = api_key
        self.model = model  # reported model; None echoes the requested one (as vLLM does)
        self.responder: Responder = responder or default_reply
        self.json_responder: JsonResponder = schema_reply
        self.delay_s = 0.0
        self.fail_status: int | None = None
        self.fault_for: Callable[[RecordedRequest], Fault | None] | None = None
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: deque[Fault] = deque()
        # the Batch API: uploaded files (id -> bytes), batches, how the next ones run
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, ServedBatch] = {}
        self.batch_lines: list[RecordedRequest] = []
        self.batch_default = BatchPlan()
        self.batch_polls = 0
        self.uploads = 0
        self._plans: deque[BatchPlan] = deque()
        self._control_faults: deque[Fault] = deque()
        self._batch_lock = threading.Lock()
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set by reset(): cuts short the delays of a past test
        self._counter = 0
        self._token = os.urandom(4).hex()  # completion ids never repeat across servers
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # configuration ---------------------------------------------------------------------------
    def queue(self, *faults: Fault) -> None:
        """The next len(faults) requests get these faults, in order; later ones are normal."""
        with self._lock:
            self._faults.extend(faults)

    def queue_batches(self, *plans: BatchPlan) -> None:
        """The next len(plans) batches run by these plans; later ones by `batch_default`."""
        with self._batch_lock:
            self._plans.extend(plans)

    def queue_control(self, *faults: Fault) -> None:
        """The next files/batches calls get these faults (an error status), in order."""
        with self._batch_lock:
            self._control_faults.extend(faults)

    def reset(self) -> None:
        """Back to defaults, with no request of an earlier test still in flight (a handler
        still sleeping on an old delay would otherwise count in the next test's peaks)."""
        old, self._wake = self._wake, threading.Event()
        old.set()
        deadline = time.monotonic() + 5
        while self.in_flight > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self.in_flight = self.max_in_flight = 0
        self.delay_s = 0.0
        self.fail_status = None
        self.fault_for = None
        self.responder = default_reply
        self.json_responder = schema_reply
        with self._batch_lock:  # batches and files stay: a re-run may still poll one
            self._plans.clear()
            self._control_faults.clear()
            self.batch_lines.clear()
        self.batch_default = BatchPlan()

    # lifecycle -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def stats(self) -> dict[str, int]:
        chats = self.chat_requests
        return {
            "chat_requests": len(chats),
            "completed": sum(r.completed for r in chats),
            "ok": sum(r.status == 200 and r.completed for r in chats),
            "max_in_flight": self.max_in_flight,
            "mean_service_ms": round(
                1000 * sum(r.ended - r.started for r in chats) / max(1, len(chats)), 3
            ),
            "batches_created": len(self.batches),
            "batch_polls": self.batch_polls,
            "batch_lines": len(self.batch_lines),
            "files_uploaded": self.uploads,
        }

    def start(self, port: int = 0) -> LLMServer:
        handler = type("_BoundHandler", (_Handler,), {"srv": self})
        self._httpd = _Server(("127.0.0.1", port), handler)
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._wake.set()  # wakes any handler sleeping on a delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # request handling (called from handler threads) ------------------------------------------
    def _begin(self, rec: RecordedRequest) -> Fault | None:
        with self._lock:
            self.requests.append(rec)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self._faults:
                return self._faults.popleft()
        chooser = self.fault_for
        return chooser(rec) if chooser is not None and rec.body is not None else None

    def _end(self, rec: RecordedRequest, status: int) -> None:
        with self._lock:
            self.in_flight -= 1
            rec.status = status
            rec.ended = time.monotonic()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._wake.wait(seconds)  # set early by reset() and stop()

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}{self._token}{self._counter:06d}"

    def _answer(
        self, rec: RecordedRequest, body: dict[str, Any], fault: Fault | None
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON payload or raw text, headers) of a chat completion request that is
        not a transport fault: what the chat endpoint and a batch line both send back."""
        if fault and fault.body is not None:
            return fault.status, fault.body, {}
        # a fault that shapes a normal reply (its content, a cut body) is a 200 whatever status
        shaped = fault is not None and (fault.reply is not None or fault.truncate)
        status = fault.status if fault and fault.status != 200 and not shaped else self.fail_status
        if status:
            headers = {}
            if fault and fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            etype = "rate_limit_exceeded" if status == 429 else "server_error"
            message = fault.message if fault else "injected failure"
            return status, _error(message, etype), headers
        if fault and fault.reply is not None:
            reply = fault.reply
        elif rec.json_schema is not None:
            reply = self.json_responder(rec)
        else:
            reply = self.responder(rec.prompt)
        payload = self._completion(body, reply)
        rec.reply = reply
        rec.response_id = payload["id"]
        return 200, payload, {}

    # the Batch API -----------------------------------------------------------------------------
    def _control_fault(self) -> Fault | None:
        with self._batch_lock:
            return self._control_faults.popleft() if self._control_faults else None

    def _create_batch(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or body.get("input_file_id") not in self.files:
            return 400, _error("input_file_id names no uploaded file", "invalid_request_error")
        if body.get("endpoint") != "/v1/chat/completions":
            return 400, _error("endpoint must be /v1/chat/completions", "invalid_request_error")
        window = body.get("completion_window")
        if not isinstance(window, str):
            return 400, _error("completion_window is required", "invalid_request_error")
        raw = self.files[body["input_file_id"]].decode("utf-8", errors="replace")
        lines, problems = [], []
        for n, text in enumerate(raw.splitlines(), 1):
            try:
                line = json.loads(text)
            except ValueError:
                problems.append(f"line {n}: not JSON")
                continue
            if not isinstance(line, dict) or line.get("url") != "/v1/chat/completions":
                problems.append(f"line {n}: url must be /v1/chat/completions")
            elif line.get("method") != "POST" or not isinstance(line.get("body"), dict):
                problems.append(f"line {n}: method POST with a JSON body required")
            else:
                lines.append(line)
        ids = [line.get("custom_id") for line in lines]
        if len(set(ids)) != len(ids):
            problems.append("custom_id values must be unique")
        with self._batch_lock:
            plan = self._plans.popleft() if self._plans else self.batch_default
        batch = ServedBatch(
            id=self._next_id("batch_"),
            plan=plan,
            input_file_id=body["input_file_id"],
            lines=lines,
            metadata=body.get("metadata"),
            completion_window=window,
            created=time.monotonic(),
            created_at=int(time.time()),
        )
        if problems or plan.fail:
            batch.status = "failed"
            data = [{"code": "invalid_request", "message": p, "line": None} for p in problems]
            batch.errors = {"object": "list", "data": data or [
                {"code": "injected", "message": "injected batch failure", "line": None}
            ]}  # fmt: skip
        with self._batch_lock:
            self.batches[batch.id] = batch
        return 200, batch.body()

    def _poll_batch(self, batch_id: str) -> tuple[int, Any]:
        with self._batch_lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return 404, _error(f"No batch found with id '{batch_id}'.", "invalid_request_error")
            self.batch_polls += 1
            batch.polls += 1
            if batch.status in ("validating", "in_progress"):
                plan = batch.plan
                running = batch.polls <= plan.polls or (
                    time.monotonic() - batch.created < plan.seconds
                )
                if running:
                    batch.status = "in_progress"
                else:
                    self._finish(batch)
            return 200, batch.body()

    def _cancel_batch(self, batch_id: str) -> tuple[int, Any]:
        with self._batch_lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return 404, _error(f"No batch found with id '{batch_id}'.", "invalid_request_error")
            if batch.status in ("validating", "in_progress"):
                batch.status = "cancelled"
                batch.counts = {"total": len(batch.lines), "completed": 0, "failed": 0}
            return 200, batch.body()

    def _line_fault(self, rec: RecordedRequest) -> Fault | None:
        """A batch line's fault, chosen as a chat request's is."""
        with self._lock:
            if self._faults:
                return self._faults.popleft()
        chooser = self.fault_for
        return chooser(rec) if chooser is not None else None

    def _finish(self, batch: ServedBatch) -> None:
        """Answer the batch's lines (under the batch lock) and write its result files."""
        plan = batch.plan
        out: list[str] = []
        err: list[str] = []
        for n, line in enumerate(batch.lines):
            body = line["body"]
            rec = RecordedRequest("POST", "/v1/chat/completions", {}, body, time.monotonic())
            cid = line.get("custom_id")
            rid = f"batch_req_{self._next_id('')}"
            if plan.expire and (
                (plan.answered is not None and n >= plan.answered)
                or (plan.answered is None and (plan.leave is None or plan.leave(rec)))
            ):
                error = {
                    "code": "batch_expired",
                    "message": "This request could not be executed before the completion "
                    "window expired.",
                }
                err.append(
                    json.dumps({"id": rid, "custom_id": cid, "response": None, "error": error})
                )
                continue
            fault = self._line_fault(rec)
            if fault is not None and (fault.reset or fault.truncate):  # no sockets in a batch
                fault = Fault(500, message="the request was cut off")
            status, payload, _ = self._answer(rec, body, fault)
            if isinstance(payload, str):
                try:
                    payload = json.loads(payload)
                except ValueError:
                    pass
            rec.completed, rec.status, rec.ended = True, status, time.monotonic()
            with self._lock:
                self.batch_lines.append(rec)  # a line, not an HTTP request: kept apart
            resp = {"status_code": status, "request_id": f"req_{rid}", "body": payload}
            entry = json.dumps({"id": rid, "custom_id": cid, "response": resp, "error": None})
            (out if status == 200 or plan.errors_in_output else err).append(entry)
        if out:
            batch.output_file_id = self._next_id("file-")
            self.files[batch.output_file_id] = ("\n".join(out) + "\n").encode()
        if err:
            batch.error_file_id = self._next_id("file-")
            self.files[batch.error_file_id] = ("\n".join(err) + "\n").encode()
        ok = sum('"status_code": 200' in e for e in out)
        batch.counts = {"total": len(batch.lines), "completed": ok, "failed": len(batch.lines) - ok}
        batch.status = "expired" if plan.expire else "completed"

    def _upload(self, ctype: str, raw: bytes) -> tuple[int, Any]:
        """A multipart/form-data upload: the `file` part is stored, `purpose` must be batch."""
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + raw
        )
        parts: dict[str, tuple[str | None, bytes]] = {}
        if msg.is_multipart():
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                data = part.get_payload(decode=True) or b""
                parts[str(name)] = (part.get_filename(), data)
        if parts.get("purpose", (None, b""))[1].decode() != "batch" or "file" not in parts:
            return 400, _error(
                "a file part and purpose=batch are required", "invalid_request_error"
            )
        filename, data = parts["file"]
        file_id = self._next_id("file-")
        with self._batch_lock:
            self.files[file_id] = data
            self.uploads += 1
        return 200, self._file_object(file_id, filename or "upload.jsonl")

    def _file_object(self, file_id: str, filename: str = "batch.jsonl") -> dict[str, Any]:
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(self.files.get(file_id, b"")),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": "batch",
            "status": "processed",
        }

    def _completion(self, body: dict[str, Any], reply: str) -> dict[str, Any]:
        with self._lock:
            self._counter += 1
            n = self._counter
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        p_tok, c_tok = len(prompt.split()), len(reply.split())
        return {
            "id": f"chatcmpl-{self._token}-{n:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model or body.get("model", "unknown"),
            "system_fingerprint": "fp_kgsynth_test",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": p_tok,
                "completion_tokens": c_tok,
                "total_tokens": p_tok + c_tok,
            },
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64 clients connect at once; the default backlog of 5 drops SYNs


def _error(message: str, etype: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    srv: LLMServer  # set on the bound subclass
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects

    def setup(self) -> None:
        super().setup()
        # headers and body go out as two writes; with Nagle on, the second waits for the
        # client's delayed ACK (~40 ms) and a 200 ms reply takes 240 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass  # keep test output clean

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def _send_raw(
        self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req-test-{id(data):x}")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self.sent = True
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            self.close_connection = True

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send RST, like a crashed proxy."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _truncated(self, payload: Any) -> None:
        """Headers promising the whole body, half of it, then a closed connection."""
        data = json.dumps(payload).encode("utf-8")
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _authorised(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.srv.api_key}"

    def _handle(self) -> None:
        srv = self.srv
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            started=time.monotonic(),
        )
        self.raw = raw
        route = self.path.split("?", 1)[0].rstrip("/")
        # a files/batches call takes no chat fault (queue_control has its own)
        fault = None if route.startswith(("/v1/files", "/v1/batches")) else srv._begin(rec)
        if fault is None and route.startswith(("/v1/files", "/v1/batches")):
            with srv._lock:
                srv.requests.append(rec)
                srv.in_flight += 1
        status = 500
        self.sent = False
        try:
            status = self._respond(rec, body, fault)
        finally:
            rec.completed = self.sent
            srv._end(rec, status)

    def _respond(self, rec: RecordedRequest, body: Any, fault: Fault | None) -> int:
        srv = self.srv
        route = self.path.split("?", 1)[0].rstrip("/")
        if self.command == "GET" and route == "/_stats":
            self._send(200, srv.stats())
            return 200
        if not self._authorised():
            err = _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
            self._send(401, err)
            return 401
        if self.command == "GET" and route == "/v1/models":
            name = srv.model or "kgsynth-test-model"
            item = {"id": name, "object": "model", "created": 0, "owned_by": "kgsynth-tests"}
            self._send(200, {"object": "list", "data": [item]})
            return 200
        if route.startswith(("/v1/files", "/v1/batches")):
            return self._batch_api(route, body)
        if self.command != "POST" or route != "/v1/chat/completions":
            self._send(404, _error(f"no route {self.command} {route}", "invalid_request_error"))
            return 404
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send(400, _error("body must be JSON with 'messages'", "invalid_request_error"))
            return 400
        srv._sleep(srv.delay_s + (fault.delay_s if fault else 0.0))
        if fault and fault.reset:
            self._reset()
            return 0
        if fault and fault.body is not None:
            self._send_raw(fault.status, fault.body.encode("utf-8"), fault.content_type)
            return fault.status
        status, payload, headers = srv._answer(rec, body, fault)
        if status == 200 and fault and fault.truncate:
            rec.reply = rec.response_id = None  # it never fully went out
            self._truncated(payload)
            return 200
        self._send(status, payload, headers)
        return status

    def _batch_api(self, route: str, body: Any) -> int:
        srv = self.srv
        fault = srv._control_fault()
        if fault is not None:
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after else {}
            self._send(fault.status, _error(fault.message, "server_error"), headers)
            return fault.status
        parts = route.split("/")[3:]  # after /v1/files or /v1/batches
        kind = route.split("/")[2]
        if kind == "files" and self.command == "POST" and not parts:
            status, payload = srv._upload(self.headers.get("Content-Type", ""), self.raw)
        elif (
            kind == "files" and self.command == "GET" and len(parts) == 2 and parts[1] == "content"
        ):
            data = srv.files.get(parts[0])
            if data is None:
                status, payload = 404, _error("No such file", "invalid_request_error")
            else:
                self._send_raw(200, data, "application/octet-stream")
                return 200
        elif kind == "files" and self.command == "GET" and len(parts) == 1:
            found = parts[0] in srv.files
            status = 200 if found else 404
            payload = (
                srv._file_object(parts[0])
                if found
                else _error("No such file", "invalid_request_error")
            )
        elif kind == "batches" and self.command == "POST" and not parts:
            status, payload = srv._create_batch(body)
        elif kind == "batches" and self.command == "GET" and len(parts) == 1:
            status, payload = srv._poll_batch(parts[0])
        elif kind == "batches" and self.command == "POST" and parts[1:] == ["cancel"]:
            status, payload = srv._cancel_batch(parts[0])
        else:
            status, payload = (
                404,
                _error(f"no route {self.command} {route}", "invalid_request_error"),
            )
        self._send(status, payload)
        return status

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()


# -- as a separate process (benchmarks, other languages) --------------------------------------


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="OpenAI-compatible test server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay of every reply")
    ap.add_argument("--api-key", default=os.environ.get("KGSYNTH_TEST_SERVER_KEY", "sk-test-key"))
    ap.add_argument("--model", default=None, help="model name to report (default: echo)")
    ap.add_argument("--batch-seconds", type=float, default=0.0, help="a batch runs this long")
    ap.add_argument("--batch-polls", type=int, default=1, help="... and this many status polls")
    args = ap.parse_args(argv)
    srv = LLMServer(api_key=args.api_key, model=args.model)
    srv.delay_s = args.latency_ms / 1000.0
    srv.batch_default = BatchPlan(polls=args.batch_polls, seconds=args.batch_seconds)
    srv.start(args.port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())

    def watch_stdin() -> None:  # the parent closing our stdin (or dying) ends the server
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"LISTENING {srv.port}", flush=True)
    done.wait()
    srv.stop()


if __name__ == "__main__":
    main()
