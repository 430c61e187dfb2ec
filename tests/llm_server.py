"""A small, real OpenAI-compatible HTTP server for tests (no mocks of the openai client).

It listens on 127.0.0.1 with an ephemeral port in a background thread and serves
POST /v1/chat/completions and GET /v1/models. Completions are deterministic: by default the
reply copies the knowledge-graph path lines of the user prompt and concludes with the option
whose text matches the prompt's reference answer, in the three-part layout
("Finding reasoning paths:", "Reasoning Process:", "Conclusion:"). A test can swap in its own
`responder` (prompt -> reply text).

Faults, configurable per test:
    server.queue(Fault(500), Fault(503))         # the next requests fail, then normal replies
    server.queue(Fault(429, retry_after=1))      # a rate limit with a Retry-After header
    server.fail_status = 500                     # every request fails
    server.delay_s = 0.2                         # every reply is slow
    server.responder = lambda prompt: "garbage"  # an unparseable reply
    server.queue(Fault(200, body="<html>", content_type="text/html"))  # a malformed body

Every request (method, path, headers, JSON body, status, timing) is recorded in
`server.requests`; `server.max_in_flight` is the most requests ever handled at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[str], str]

_OPTION = re.compile(r"^([A-J])\. (.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*\S)\s*$")
_REFERENCE = re.compile(r"^Reference answer[^:]*:\s*(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Fault:
    """One injected failure: an HTTP error status, a raw body, or a normal reply after a delay."""

    status: int = 500
    retry_after: float | None = None  # seconds, sent as the Retry-After header
    delay_s: float = 0.0
    message: str = "injected failure"
    body: str | None = None  # sent verbatim with `status` instead of any JSON
    content_type: str = "application/json"


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

    @property
    def prompt(self) -> str:
        """The user message of a chat request ("" when there is none)."""
        if not isinstance(self.body, dict):
            return ""
        msgs = [m for m in self.body.get("messages", []) if m.get("role") == "user"]
        return str(msgs[-1].get("content", "")) if msgs else ""


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


def default_reply(prompt: str) -> str:
    """A valid three-part reply: the prompt's paths copied verbatim, the matching option."""
    paths = prompt_paths(prompt)
    options = prompt_options(prompt)
    answer = prompt_reference(prompt) or ""
    letter = next((k for k, v in options.items() if v.lower() == answer.lower()), None)
    listed = "\n".join(f"{i}. {p}" for i, p in enumerate(paths, 1))
    steps = [
        "The patient's findings are the starting points of the reasoning.",
        f"Each link followed from those findings ends at {answer or 'the diagnosis'}.",
        "No other option is supported as well by these links.",
    ]
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
    conclusion = f"The answer is {letter}: {answer}." if letter else f"The answer is {answer}."
    return (
        f"Finding reasoning paths:\n{listed}\nReasoning Process:\n{numbered}\n"
        f"Conclusion:\n{conclusion}"
    )


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
        self.delay_s = 0.0
        self.fail_status: int | None = None
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counter = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # configuration ---------------------------------------------------------------------------
    def queue(self, *faults: Fault) -> None:
        """The next len(faults) requests get these faults, in order; later ones are normal."""
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self.in_flight = self.max_in_flight = 0
        self.delay_s = 0.0
        self.fail_status = None
        self.responder = default_reply

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

    def start(self) -> LLMServer:
        handler = type("_BoundHandler", (_Handler,), {"srv": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes any handler sleeping on a delay
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
            return self._faults.popleft() if self._faults else None

    def _end(self, rec: RecordedRequest, status: int) -> None:
        with self._lock:
            self.in_flight -= 1
            rec.status = status
            rec.ended = time.monotonic()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stop.wait(seconds)

    def _completion(self, body: dict[str, Any], reply: str) -> dict[str, Any]:
        with self._lock:
            self._counter += 1
            n = self._counter
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        p_tok, c_tok = len(prompt.split()), len(reply.split())
        return {
            "id": f"chatcmpl-test-{n:06d}",
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


def _error(message: str, etype: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    srv: LLMServer  # set on the bound subclass
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects

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
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            self.close_connection = True

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
        try:
            status = self._respond(rec, body, fault)
        finally:
            srv._end(rec, status)

    def _respond(self, rec: RecordedRequest, body: Any, fault: Fault | None) -> int:
        srv = self.srv
        route = self.path.split("?", 1)[0].rstrip("/")
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
        if fault and fault.body is not None:
            self._send_raw(fault.status, fault.body.encode("utf-8"), fault.content_type)
            return fault.status
        status = fault.status if fault and fault.status != 200 else srv.fail_status
        if status:
            headers = {}
            if fault and fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            etype = "rate_limit_exceeded" if status == 429 else "server_error"
            message = fault.message if fault else "injected failure"
            self._send(status, _error(message, etype), headers)
            return status
        reply = srv.responder(rec.prompt)
        rec.reply = reply
        self._send(200, srv._completion(body, reply))
        return 200

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()
