"""A small, real OpenAI-compatible HTTP server for tests (no mocks of the openai client).

It listens on 127.0.0.1 with an ephemeral port in a background thread and serves
POST /v1/chat/completions and GET /v1/models. Completions are deterministic: by default the
reply copies the knowledge-graph path lines of the user prompt and concludes with the option
whose text matches the prompt's reference answer (thinking_path v1/v2) or, without one, the
option its per-option evidence favours (v3), in the three-part layout
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

Every request (method, path, headers, JSON body, status, timing, whether the whole response
went out) is recorded in `server.requests`; `server.max_in_flight` is the most requests ever
handled at once. `GET /_stats` (no key needed) returns the counters as JSON, for a server
run as a separate process: `python tests/llm_server.py --latency-ms 200 --api-key KEY`
prints `LISTENING <port>` and serves until stdin closes or it gets SIGTERM.
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
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
    reference answer names (v1/v2 prompts) or that the evidence favours (v3)."""
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
        fault = srv._begin(rec)
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
        # a fault that shapes a normal reply (its content, a cut body) is a 200 whatever status
        shaped = fault is not None and (fault.reply is not None or fault.truncate)
        status = fault.status if fault and fault.status != 200 and not shaped else srv.fail_status
        if status:
            headers = {}
            if fault and fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            etype = "rate_limit_exceeded" if status == 429 else "server_error"
            message = fault.message if fault else "injected failure"
            self._send(status, _error(message, etype), headers)
            return status
        if fault and fault.reply is not None:
            reply = fault.reply
        elif rec.json_schema is not None:
            reply = srv.json_responder(rec)
        else:
            reply = srv.responder(rec.prompt)
        payload = srv._completion(body, reply)
        if fault and fault.truncate:
            self._truncated(payload)
            return 200
        rec.reply = reply
        rec.response_id = payload["id"]
        self._send(200, payload)
        return 200

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
    args = ap.parse_args(argv)
    srv = LLMServer(api_key=args.api_key, model=args.model)
    srv.delay_s = args.latency_ms / 1000.0
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
