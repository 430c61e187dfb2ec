"""The Batch API path of the LLM client (`[llm] mode = "batch"`).

One `LLMClient.arun_batch` call (one chain step) sends its cache misses as one batch (or
several side by side, each within `batch.max_lines` lines and `batch.max_bytes` bytes): each
distinct request one JSONL line (custom_id: its cache key; body: the body the online path
sends), uploaded to /v1/files (purpose "batch"), a batch created on /v1/chat/completions,
polled with a growing interval until it ends, then its output and error files read back.
Usable replies go into the response cache as online ones do; lines that failed for a reason
worth another try (5xx, 429, batch_expired, a body that is no completion) go out again in a
new batch, up to `batch.max_resubmits` times; the rest end as failed Results, which the
build treats as it treats online failures.

Resume: once a batch exists its id is written (atomically) to
<cache_dir>/llm/batches/<hash of endpoint, model and the set of request keys>.json before
the first poll, and removed when its lines are handled. A build killed while polling finds
the record on its re-run (the same step misses the same keys: the same hash) and polls that
batch instead of paying for the requests again. The record is untrusted input: it may hold a
batch id of plain characters and a round number, nothing else; anything else is discarded
with one warning and the requests are submitted anew.

Not shared with other builds through in-flight claims, as online requests are: a batch runs
for hours, and the record already makes builds with the same step on one cache poll the same
batch. The API key goes out only as the SDK's Authorization header.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kgsynth.llm.cache import CachedResponse, normalise_endpoint
from kgsynth.llm.client import (
    AUTH_STATUSES,
    RETRY_STATUSES,
    Progress,
    Request,
    Result,
    _classify,
    _Failure,
    _get,
    _reply,
    _tokens,
    backoff_delay,
)

if TYPE_CHECKING:
    import openai

    from kgsynth.llm.client import LLMClient

log = logging.getLogger(__name__)

T = TypeVar("T")
ENDPOINT = "/v1/chat/completions"
RECORD_VERSION = 1
MAX_RECORD_BYTES = 4096
# batch and file ids go into URL paths: plain characters only, whoever sent them
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_CODE = re.compile(r"[a-z0-9_]{1,48}")  # an error code fit to be a reject reason
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
RETRY_CODES = frozenset({"batch_expired", "server_error", "rate_limit_exceeded"})


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    round: int  # 0: the first submission; n: the n-th resubmission of what failed


@dataclass(frozen=True)
class _Reply:
    text: str
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    response_id: str | None


class _CallFailed(Exception):
    """A files/batches call that failed for good (after retries)."""

    def __init__(self, what: str, failure: _Failure, attempts: int) -> None:
        s = "s" if attempts != 1 else ""
        super().__init__(f"{what}: {failure.detail} after {attempts} attempt{s}")
        self.failure = failure


class _StillRunning(Exception):
    """The batch did not end within `batch.max_wait_s`; its record stays."""


def record_name(base_url: str | None, model: str, keys: Sequence[str]) -> str:
    blob = json.dumps([RECORD_VERSION, normalise_endpoint(base_url), model, sorted(set(keys))])
    return hashlib.sha256(blob.encode()).hexdigest()


class BatchRecords:
    """The persisted ids of batches being waited for, one small JSON file each."""

    def __init__(self, root: Path | None) -> None:
        self.root = root  # None: no cache dir, nothing persisted (no resume)

    def load(self, name: str) -> BatchRecord | None:
        if self.root is None:
            return None
        path = self.root / f"{name}.json"
        try:
            if path.is_symlink():
                raise ValueError("it is a symbolic link")
            with path.open("rb") as f:
                raw = f.read(MAX_RECORD_BYTES + 1)
            return parse_record(raw)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            # the reason only: the file's content is not ours to echo
            why = str(e)[:120] if isinstance(e, ValueError) else type(e).__name__
            log.warning(
                "LLM batch record %s is not a valid record (%s); discarded, its requests "
                "are submitted again",
                path.name,
                why,
            )
            self.drop(name)
            return None

    def save(self, name: str, rec: BatchRecord) -> None:
        """Written whole or not at all (a temp file renamed over), and synced: it is what
        stops a re-run from paying for the batch twice."""
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        doc = {"v": RECORD_VERSION, "batch_id": rec.batch_id, "round": rec.round}
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.root / f"{name}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def drop(self, name: str) -> None:
        if self.root is not None:
            (self.root / f"{name}.json").unlink(missing_ok=True)


def parse_record(raw: bytes) -> BatchRecord:
    """A stored record, checked field by field; ValueError says what is wrong."""
    if len(raw) > MAX_RECORD_BYTES:
        raise ValueError("too large")
    doc = json.loads(raw.decode("utf-8"))  # JSONDecodeError and UnicodeError are ValueErrors
    if not isinstance(doc, dict) or set(doc) != {"v", "batch_id", "round"}:
        raise ValueError("not the fields of a batch record")
    if doc["v"] != RECORD_VERSION:
        raise ValueError("another record version")
    bid, rnd = doc["batch_id"], doc["round"]
    if not isinstance(bid, str) or not _ID.fullmatch(bid):
        raise ValueError("the batch id is not a plain id")
    if type(rnd) is not int or not 0 <= rnd <= 1000:
        raise ValueError("the round is not a small number")
    return BatchRecord(bid, rnd)


def _plain_id(value: object) -> str | None:
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _text(value: object, limit: int = 200) -> str:
    return " ".join(str(value).split())[:limit]


def line_outcome(line: dict[str, Any]) -> _Reply | _Failure:
    """One line of an output or error file: the reply, or why there is none."""
    err = line.get("error")
    status = _get(line, "response", "status_code")
    body = _get(line, "response", "body")
    if isinstance(err, dict) and (err.get("code") or err.get("message")):
        code = str(err.get("code") or "")
        return _Failure(
            detail=f"{_text(code, 48) or 'error'}: {_text(err.get('message', ''))}",
            retryable=code in RETRY_CODES,
            error=code if _CODE.fullmatch(code) else "batch_error",
        )
    if isinstance(status, int) and status != 200:
        message = _get(body, "error", "message")
        return _Failure(
            detail=f"HTTP {status}" + (f" ({_text(message)})" if message else ""),
            retryable=status in RETRY_STATUSES or status >= 500,
            error=f"http_{status}",
            status=status,
        )
    reply = _reply(body) if status == 200 else None
    if reply is None:  # a 200 that is no chat completion: another try, as online
        return _Failure(
            detail="response is not a chat completion with text content",
            retryable=True,
            error="unparseable_response",
        )
    p_tok, c_tok = _tokens(body)
    rid = _get(body, "id")
    return _Reply(reply[0], reply[1], p_tok or 0, c_tok or 0, rid if isinstance(rid, str) else None)


def _batch_failure(batch: dict[str, Any], status: str) -> _Failure:
    """Why a line has no answer in a batch that ended `status`."""
    if status == "expired":
        detail = "batch_expired: not run within the completion window"
        return _Failure(detail=detail, retryable=True, error="batch_expired")
    if status == "failed":  # the input file was refused: the same file would be again
        why = _get(batch, "errors", "data", 0, "message")
        detail = "batch failed" + (f": {_text(why)}" if why else "")
        return _Failure(detail=detail, retryable=False, error="batch_failed")
    if status == "cancelled":  # someone cancelled it: not ours to send again
        return _Failure(detail="batch cancelled", retryable=False, error="batch_cancelled")
    detail = "the completed batch has no line for this request"
    return _Failure(detail=detail, retryable=True, error="batch_missing_line")


async def send_batch(
    client: LLMClient,
    requests: Sequence[Request],
    keys: list[str],
    misses: list[int],
    results: list[Result | None],
    progress: Progress | None,
) -> None:
    """Fill `results[i]` for every miss, through the Batch API (see the module doc)."""
    import openai  # here, not at the top: an offline build never loads the SDK

    client.check_refused()
    where: dict[str, list[int]] = {}
    for i in misses:
        where.setdefault(keys[i], []).append(i)
    first = {key: requests[ids[0]] for key, ids in where.items()}
    done = len(requests) - len(misses)

    def finish(key: str, res: Result) -> None:
        nonlocal done
        for i in where[key]:
            results[i] = res
        done += len(where[key])
        if progress:
            progress(done, len(requests))

    cfg = client.cfg
    async with openai.AsyncOpenAI(
        base_url=cfg.base_url, api_key=client._key.value, max_retries=0, timeout=cfg.timeout_s
    ) as oc:
        parts = chunks(client, first)
        if len(parts) > 1:
            log.info("LLM batch: %d requests go out as %d batches", len(first), len(parts))
        # side by side: each part has its own record (its own set of keys), so a re-run
        # resumes each where it is
        await asyncio.gather(*(_BatchRun(client, oc, part, finish).run() for part in parts))


def chunks(client: LLMClient, first: dict[str, Request]) -> list[dict[str, Request]]:
    """The requests in batches of at most `batch.max_lines` lines and `batch.max_bytes`
    bytes of JSONL, in request order: the same misses give the same parts, which a resumed
    build needs to find their records."""
    cap_lines, cap_bytes = client.cfg.batch.max_lines, client.cfg.batch.max_bytes
    parts: list[dict[str, Request]] = [{}]
    size = 0
    for key, req in first.items():
        n = len(batch_line(client, key, req)) + 1
        if parts[-1] and (len(parts[-1]) >= cap_lines or size + n > cap_bytes):
            parts.append({})
            size = 0
        parts[-1][key] = req
        size += n
    return parts


def batch_line(client: LLMClient, key: str, req: Request) -> bytes:
    """One request's line of the batch file."""
    line = {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": client.body(req)}
    return json.dumps(line, ensure_ascii=False).encode("utf-8")


class _BatchRun:
    """The batches of one step: the first submission and the resubmissions."""

    def __init__(
        self,
        client: LLMClient,
        oc: openai.AsyncOpenAI,
        first: dict[str, Request],
        finish: Callable[[str, Result], None],
    ) -> None:
        self.client = client
        self.cfg = client.cfg
        self.oc = oc
        self.first = first
        self.finish = finish
        self.records = BatchRecords(client.batch_dir)
        self.submissions: dict[str, int] = {}  # key -> batches it went out in

    async def run(self) -> None:
        pending = list(self.first)
        rnd = 0
        while pending:
            name = record_name(self.cfg.base_url, self.cfg.model, pending)
            rec = self.records.load(name)
            try:
                if rec is not None:
                    rnd = rec.round
                    batch_id = rec.batch_id
                    log.info("LLM batch %s: resuming, %d requests", batch_id, len(pending))
                else:
                    batch_id = await self._submit(pending)
                    # before the first poll: a kill from here on is resumed, not resubmitted
                    self._save(name, BatchRecord(batch_id, rnd))
                    self._count(pending, rnd)
                batch = await self._wait(batch_id, resumed=rec is not None)
                if batch is None:  # the record named a batch the server does not know
                    self.records.drop(name)
                    continue
                if rec is not None:
                    self._count(pending, rnd)
                outcomes = await self._collect(batch)
            except _CallFailed as e:
                # upload/create failed: nothing to resume; a poll or download failed: the
                # record stays, so the next run picks the batch up where it is
                self._fail_all(pending, e.failure, str(e))
                return
            except _StillRunning as e:
                failure = _Failure(detail=str(e), retryable=False, error="timeout")
                self._fail_all(pending, failure, str(e))
                return
            status = str(batch.get("status"))
            retry: list[str] = []
            for key in pending:
                out = outcomes.get(key) or _batch_failure(batch, status)
                if isinstance(out, _Reply):
                    self._answer(key, out)
                elif out.retryable and rnd < self.cfg.batch.max_resubmits:
                    retry.append(key)
                else:
                    self._fail(key, out, batch_id)
            self.records.drop(name)
            if retry:
                log.info(
                    "LLM batch %s (%s): %d of %d requests failed; sending them again",
                    batch_id,
                    status,
                    len(retry),
                    len(pending),
                )
            pending, rnd = retry, rnd + 1

    def _save(self, name: str, rec: BatchRecord) -> None:
        try:
            self.records.save(name, rec)
        except OSError as e:  # a full disk: the batch is paid for already, so wait for it
            log.warning(
                "LLM batch %s could not be recorded (%s); a build killed before it ends "
                "would submit it again",
                rec.batch_id,
                type(e).__name__,
            )

    # -- results ---------------------------------------------------------------------------
    def _count(self, keys: list[str], rnd: int) -> None:
        # a resumed batch counts as this run's requests (once found on the endpoint): its
        # replies, and their cost, arrive in this run
        for key in keys:
            self.submissions[key] = rnd + 1
            su = self.client.usage.step(self.first[key].step, self.cfg.model)
            su.requests += 1
            su.retries += int(rnd > 0)

    def _answer(self, key: str, out: _Reply) -> None:
        req = self.first[key]
        su = self.client.usage.step(req.step, self.cfg.model)
        su.responses += 1
        su.prompt_tokens += out.prompt_tokens
        su.completion_tokens += out.completion_tokens
        su.batch_prompt_tokens += out.prompt_tokens
        su.batch_completion_tokens += out.completion_tokens
        model = out.model or self.cfg.model
        cache = self.client.cache
        if cache is not None and req.usable(out.text):  # an unusable reply is never kept
            entry = CachedResponse(
                out.text, model, out.prompt_tokens, out.completion_tokens, out.response_id
            )
            cache.put(key, entry, req.step)
        self.finish(
            key,
            Result(
                text=out.text,
                model=model,
                prompt_tokens=out.prompt_tokens,
                completion_tokens=out.completion_tokens,
                attempts=self.submissions.get(key, 1),
                response_id=out.response_id,
            ),
        )

    def _fail(self, key: str, f: _Failure, batch_id: str) -> None:
        n = self.submissions.get(key, 1)
        detail = f"{f.detail} (batch {batch_id}, after {n} submission{'s' if n != 1 else ''})"
        self._fail_one(key, f, detail)

    def _fail_all(self, keys: list[str], f: _Failure, detail: str) -> None:
        log.warning("LLM batch of %d requests failed: %s", len(keys), detail)
        for key in keys:
            self._fail_one(key, f, detail)

    def _fail_one(self, key: str, f: _Failure, detail: str) -> None:
        req = self.first[key]
        self.client.usage.step(req.step, self.cfg.model).errors += 1
        log.info("LLM request %s failed: %s", req.tag, detail)
        self.finish(
            key, Result(error=f.error, detail=detail, attempts=self.submissions.get(key, 0))
        )

    # -- the API calls -----------------------------------------------------------------------
    async def _call(self, what: str, make: Callable[[], Awaitable[T]], *, resend: bool = True) -> T:
        """One files/batches call with our retry rules; `resend=False` for a call that may
        have taken effect when no status came back (creating a batch): it is retried only
        after an HTTP error status, never after a timeout or a cut connection."""
        import openai

        cfg = self.cfg
        attempt = 0
        while True:
            try:
                return await make()
            except (openai.OpenAIError, TimeoutError, ValueError) as e:
                f = _classify(e)
            if f.status in AUTH_STATUSES:
                raise self.client.refused_key(f.status) from None
            attempt += 1
            again = f.retryable and (resend or f.status is not None)
            if not again or attempt > cfg.max_retries:
                raise _CallFailed(what, f, attempt)
            delay = backoff_delay(
                attempt - 1, cfg.backoff_base_s, cfg.backoff_max_s, f.retry_after, self.client._rng
            )
            log.info("LLM %s: %s, retry %d in %.2fs", what, f.detail, attempt, delay)
            await asyncio.sleep(delay)

    async def _submit(self, keys: list[str]) -> str:
        data = b"".join(batch_line(self.client, key, self.first[key]) + b"\n" for key in keys)
        upload = await self._call(
            "batch file upload",
            lambda: self.oc.files.create(
                file=("kgsynth-batch.jsonl", data, "application/jsonl"), purpose="batch"
            ),
        )
        file_id = _plain_id(getattr(upload, "id", None))
        if file_id is None:
            bad = _Failure("the upload's reply has no file id", False, "unparseable_response")
            raise _CallFailed("batch file upload", bad, 1)
        step = self.first[keys[0]].step
        body = {
            "input_file_id": file_id,
            "endpoint": ENDPOINT,
            "completion_window": self.cfg.batch.completion_window,
            "metadata": {"kgsynth_step": step[:512]},
        }
        created = await self._call(
            "batch create",
            lambda: self.oc.post("/batches", cast_to=object, body=body),
            resend=False,
        )
        batch_id = _plain_id(_get(created, "id"))
        if batch_id is None:
            bad = _Failure("the reply has no batch id", False, "unparseable_response")
            raise _CallFailed("batch create", bad, 1)
        log.info("LLM batch %s: %d requests of step %s submitted", batch_id, len(keys), step)
        return batch_id

    async def _wait(self, batch_id: str, *, resumed: bool) -> dict[str, Any] | None:
        """Poll until the batch ends, the wait growing by half each time up to the cap. None
        when a resumed record names a batch the server does not know (HTTP 404)."""
        b = self.cfg.batch
        delay, start, last = b.poll_s, time.monotonic(), None
        while True:
            try:
                batch = await self._call(
                    "batch status", lambda: self.oc.get(f"/batches/{batch_id}", cast_to=object)
                )
            except _CallFailed as e:
                if resumed and e.failure.status == 404:
                    log.warning(
                        "LLM batch %s on record is unknown to the endpoint; submitting again",
                        batch_id,
                    )
                    return None
                raise
            if not isinstance(batch, dict):
                batch = {}
            status = batch.get("status")
            if status != last:
                counts = batch.get("request_counts")
                log.info("LLM batch %s: %s %s", batch_id, _text(status, 32), _text(counts or ""))
                last = status
            if status in TERMINAL:
                return batch
            waited = time.monotonic() - start
            if waited >= b.max_wait_s:
                raise _StillRunning(
                    f"batch {batch_id} still {_text(status, 32)} after {waited:.0f} s "
                    "(llm.batch.max_wait_s); kept on record: the next run polls it again"
                )
            await asyncio.sleep(min(delay, b.max_wait_s - waited))
            delay = min(b.poll_max_s, delay * 1.5)

    async def _collect(self, batch: dict[str, Any]) -> dict[str, _Reply | _Failure]:
        """custom_id -> outcome, from the output file and then the error file; a reply is
        never replaced by a failure, and lines for requests not in this step are skipped."""
        out: dict[str, _Reply | _Failure] = {}
        for field in ("output_file_id", "error_file_id"):
            file_id = _plain_id(batch.get(field))
            if file_id is None:
                continue
            content = await self._call(
                "batch file download", lambda fid=file_id: self.oc.files.content(fid)
            )
            unknown = 0
            for raw in content.content.decode("utf-8", errors="replace").splitlines():
                try:
                    line = json.loads(raw)
                except ValueError:
                    line = None
                key = line.get("custom_id") if isinstance(line, dict) else None
                if not isinstance(key, str) or key not in self.first:
                    unknown += bool(raw.strip())
                    continue
                assert isinstance(line, dict)
                if not isinstance(out.get(key), _Reply):
                    out[key] = line_outcome(line)
            if unknown:
                log.warning("LLM batch %s: %d lines not ours, skipped", batch.get("id"), unknown)
        return out
