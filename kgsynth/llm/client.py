"""The one LLM client every LLM step goes through: send, limit, retry, cache, count.

It sits on `openai.AsyncOpenAI` with the SDK's own retries switched off, so that the retry
loop (which errors, how long to wait, Retry-After, counting) is ours and the same for every
OpenAI-compatible endpoint. Callers hand over a batch of `Request`s and get one `Result`
each, in input order; a cached reply comes back without any request. The API key is read
from the environment variable named in config, kept in memory only, and never logged,
cached or put into a result.

What the cache keeps: a request may carry `accept` (reply text -> usable?); a reply it
refuses is handed back but not stored, and a stored reply it refuses counts as a miss, so
a bad reply is asked again on the next run instead of being kept for good. Misses are
claimed in the cache before they are sent (kgsynth.llm.cache), so two builds on one cache
send each prompt once. An endpoint that refuses the API key (HTTP 401/403) stops the run at
once with `LLMAuthError`: every other request would fail the same way.

With `[llm] mode = "batch"` the misses go through the Batch API instead (kgsynth.llm.batch):
the same request bodies, the same cache, the same Results; only the way they travel differs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kgsynth import cache_layout
from kgsynth.config import LLMConfig
from kgsynth.errors import ConfigError, LLMAuthError
from kgsynth.llm.cache import (
    CachedResponse,
    ResponseCache,
    cache_key,
    cache_path,
    normalise_endpoint,
)
from kgsynth.llm.limits import Limits
from kgsynth.llm.usage import StepUsage, Usage
from kgsynth.redact import redact_url

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[int, int], None]  # (done, total)

RETRY_STATUSES = frozenset({408, 409, 429})  # plus every 5xx
AUTH_STATUSES = frozenset({401, 403})  # the key is refused: no request can succeed
# (endpoint, hash of the key) pairs refused in this process lately, with the error and
# when: a later client with the same key (the next shard) fails without sending. Only a hash
# of the key is kept, and only for a while (a key may be granted access later).
_REFUSED: dict[tuple[str, str], tuple[LLMAuthError, float]] = {}
REFUSAL_MEMORY_S = 300.0
Accept = Callable[[str], bool]


class _Secret:
    """Holds the API key so that no repr, log line, dump of vars() or traceback with locals
    can show it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "'***'"


@dataclass(frozen=True)
class Request:
    """One chat completion to make. `step` names the bucket its usage is counted under;
    `prompt_version` is part of the cache key, so a new template version never reuses an old
    reply; `tag` (an item id) only labels log lines; `accept` says whether a reply text is
    usable (parsed and valid): only such replies are cached. Neither `tag` nor `accept` is
    part of the cache key."""

    messages: list[dict[str, str]]
    step: str = "default"
    prompt_version: str = ""
    response_format: dict[str, Any] | None = None
    tag: str = ""
    accept: Accept | None = field(default=None, compare=False, repr=False)

    def usable(self, text: str) -> bool:
        return self.accept is None or self.accept(text)

    @classmethod
    def user(cls, prompt: str, **kw: Any) -> Request:
        return cls(messages=[{"role": "user", "content": prompt}], **kw)

    def repair(self, reply: str, ask: str) -> Request:
        """One more turn of this conversation: the reply it got and an ask to fix it, counted
        under `<step>.repair` (the rest, `accept` included, is this request's)."""
        messages = list(self.messages)
        if reply.strip():  # an empty assistant turn is refused by some endpoints
            messages.append({"role": "assistant", "content": reply})
        messages.append({"role": "user", "content": ask})
        return replace(self, messages=messages, step=f"{self.step}.repair")


@dataclass(frozen=True)
class Result:
    """A reply (`text`) or why there is none, after retries (`error`: "http_<status>",
    "timeout", "connection_error", "unparseable_response" for an HTTP 200 whose body is not a
    chat completion, "llm_error" for anything else; `detail` says more, with the attempts)."""

    text: str | None = None
    model: str | None = None
    error: str | None = None
    detail: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    attempts: int = 0  # HTTP requests made for it in this run (0 when cached)
    response_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(eq=False)  # eq would make it unhashable, which an exception must not be
class _Failure(Exception):
    """One failed attempt, already classified."""

    detail: str
    retryable: bool
    error: str = "llm_error"  # the Result's error code
    retry_after: float | None = None
    status: int | None = None


@dataclass
class _Session:
    """What the requests of one batch share; created inside the batch's event loop."""

    client: openai.AsyncOpenAI
    sem: asyncio.Semaphore
    limits: Limits
    pause_until: float = 0.0  # set by a 429: nobody sends before then
    done: int = 0
    total: int = 0
    pending: dict[str, asyncio.Future[Result]] = field(default_factory=dict)
    # keys another build holds: resolved with its stored reply, or None once ours to send
    waiting: dict[str, asyncio.Future[CachedResponse | None]] = field(default_factory=dict)
    claimed: set[str] = field(default_factory=set)  # keys this batch holds in the cache
    stop: LLMAuthError | None = None  # set by a refused key: no further request goes out


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(
    attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random
) -> float:
    """Full jitter (uniform in [0, min(cap, base * 2**attempt)]) so that clients that failed
    together do not retry together; a server's Retry-After is a floor (capped at `cap`), with
    up to 10% on top for the same reason."""
    if retry_after is not None:
        floor = min(cap, retry_after)
        return floor + rng.uniform(0, 0.1 * floor)
    return rng.uniform(0, min(cap, base * 2**attempt))


def _classify(exc: BaseException) -> _Failure:
    import openai  # here, not at the top: an offline build never loads the SDK (0.6 s)

    name = type(exc).__name__
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        return _Failure(
            detail=f"{name} (HTTP {status})",
            retryable=status in RETRY_STATUSES or status >= 500,
            error=f"http_{status}",
            retry_after=parse_retry_after(exc.response.headers),
            status=status,
        )
    # APITimeoutError is an APIConnectionError: test it first
    if isinstance(exc, (openai.APITimeoutError, TimeoutError)):
        return _Failure(detail=name, retryable=True, error="timeout")
    if isinstance(exc, openai.APIConnectionError):  # resets, refusals, cut bodies
        return _Failure(detail=name, retryable=True, error="connection_error")
    if isinstance(exc, ValueError):
        # an HTTP 200 whose body is not JSON: a proxy's error page or a glitch, as passing as
        # a 5xx, so it is retried like one
        return _Failure(
            detail=f"response body is not valid JSON ({name})",
            retryable=True,
            error="unparseable_response",
        )
    return _Failure(detail=name, retryable=False)


def _get(obj: object, *path: str | int) -> object:
    """obj[path[0]][path[1]]..., or None as soon as a step does not fit."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or len(obj) <= step:
                return None
            obj = obj[step]
        elif isinstance(obj, dict):
            obj = obj.get(step)
        else:
            return None
    return obj


def _reply(data: object) -> tuple[str, str | None] | None:
    """(text, model) of a chat completion body, or None for anything else a server may send
    back (plain text, a list, no choices, a message whose content is not a string)."""
    content = _get(data, "choices", 0, "message", "content")
    if not isinstance(content, str):
        return None
    model = _get(data, "model")
    return content.strip(), model if isinstance(model, str) and model else None


def _tokens(data: object) -> tuple[int | None, int | None]:
    p, c = _get(data, "usage", "prompt_tokens"), _get(data, "usage", "completion_tokens")
    return (p if isinstance(p, int) else None), (c if isinstance(c, int) else None)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code (the Prefect tasks); in a thread of its own when the
    caller already runs an event loop (a notebook, an async flow)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class LLMClient:
    """Batches of chat completions against one endpoint and model (`LLMConfig`).

    `cache_dir` turns on the persistent response cache (unless `llm.cache` is false);
    `usage` accumulates over every batch this client runs.
    """

    def __init__(
        self, cfg: LLMConfig, cache_dir: Path | None = None, *, jitter_seed: int | None = None
    ) -> None:
        key = os.environ.get(cfg.api_key_env)
        if not key:
            raise ConfigError(
                f"llm.api_key_env: environment variable {cfg.api_key_env} is not set "
                f"(it must hold the API key for the endpoint)"
            )
        self.cfg = cfg
        self._key = _Secret(key)
        self._refusal = (normalise_endpoint(cfg.base_url), hashlib.sha256(key.encode()).hexdigest())
        self.cache = ResponseCache(cache_path(cache_dir)) if cfg.cache and cache_dir else None
        # batch mode's records of submitted batches (resume polling after a kill): kept
        # beside the response cache, which is what a resumed build reads its replies from
        self.batch_dir = (
            cache_layout.llm_batches(cache_dir) if self.cache is not None and cache_dir else None
        )
        self.usage = Usage()
        self._rng = random.Random(jitter_seed)  # backoff jitter only; not the sampling seed
        self._params: dict[str, Any] = {
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
            "seed": cfg.seed,
        }

    def __repr__(self) -> str:
        url = redact_url(self.cfg.base_url) if self.cfg.base_url else None
        return f"LLMClient(base_url={url!r}, model={self.cfg.model!r})"

    def key(self, req: Request) -> str:
        return cache_key(
            endpoint=self.cfg.base_url,
            model=self.cfg.model,
            messages=req.messages,
            params=self._params,
            response_format=req.response_format,
            prompt_version=req.prompt_version,
        )

    def usage_report(self) -> dict[str, Any]:
        return self.usage.report(self.cfg.prices)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def remember(self, req: Request, res: Result) -> None:
        """Store `res` as the reply to `req` (when the cache is on and `req` accepts it):
        for a reply a repair request produced, so that a re-run of `req` needs no repair."""
        if self.cache is None or res.text is None or not req.usable(res.text):
            return
        entry = CachedResponse(
            res.text,
            res.model or self.cfg.model,
            res.prompt_tokens,
            res.completion_tokens,
            res.response_id,
        )
        self.cache.put(self.key(req), entry, req.step)

    def body(self, req: Request) -> dict[str, Any]:
        """The chat completion request body: the same online and in a batch file."""
        cfg = self.cfg
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": req.messages,
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
        }
        if cfg.seed is not None:
            body["seed"] = cfg.seed
        if req.response_format is not None:
            body["response_format"] = req.response_format
        return body

    def refused_key(self, status: int) -> LLMAuthError:
        """The error that stops the run when the endpoint refuses the key (remembered for a
        while, so that the next shard's client fails without sending)."""
        cfg = self.cfg
        err = LLMAuthError(
            f"the endpoint at {normalise_endpoint(cfg.base_url)} rejected the API "
            f"key in ${cfg.api_key_env} (HTTP {status})"
        )
        _REFUSED[self._refusal] = (err, time.monotonic())
        return err

    def check_refused(self) -> None:
        """Raise at once when this key was refused by this endpoint lately."""
        denied = _REFUSED.get(self._refusal)
        if denied is not None and time.monotonic() - denied[1] < REFUSAL_MEMORY_S:
            raise denied[0]

    def lease_s(self) -> float:
        """How long a claim on an in-flight key lasts without renewal: two full retry
        rounds, so that only an owner that stopped renewing loses it."""
        return 2.0 * self.cfg.timeout_s * (self.cfg.max_retries + 1)

    # -- batches ---------------------------------------------------------------------------
    def run_batch(
        self, requests: Sequence[Request], progress: Progress | None = None
    ) -> list[Result]:
        """One Result per request, in input order (sync; runs its own event loop)."""
        if not requests:
            return []
        return run_sync(self.arun_batch(requests, progress))

    async def arun_batch(
        self, requests: Sequence[Request], progress: Progress | None = None
    ) -> list[Result]:
        keys = [self.key(r) for r in requests]
        hits = self.cache.get_many(keys) if self.cache is not None else {}
        results: list[Result | None] = [None] * len(requests)
        misses: list[int] = []
        refused: set[str] = set()  # stored replies the caller cannot use: asked again
        for i, (req, key) in enumerate(zip(requests, keys, strict=True)):
            hit = hits.get(key)
            if hit is not None and not req.usable(hit.text):
                # stored by an older version, or under other rules: heal it
                log.info("cached reply for %s is not usable; asking again", req.tag)
                refused.add(key)
                hit = None
            if hit is None:
                misses.append(i)
                continue
            results[i] = self._hit(req, hit)
        done = len(requests) - len(misses)
        if progress and done:
            progress(done, len(requests))
        if misses and self.cfg.mode == "batch":
            from kgsynth.llm.batch import send_batch  # only batch builds load it

            await send_batch(self, requests, keys, misses, results, progress)
        elif misses:
            await self._send_all(requests, keys, misses, results, refused, progress)
        out = [r for r in results if r is not None]
        assert len(out) == len(requests), "a request was left without a result"
        return out

    def _hit(self, req: Request, hit: CachedResponse) -> Result:
        su = self.usage.step(req.step, self.cfg.model)
        su.cache_hits += 1
        su.cached_prompt_tokens += hit.prompt_tokens
        su.cached_completion_tokens += hit.completion_tokens
        return Result(
            text=hit.text,
            model=hit.model,
            prompt_tokens=hit.prompt_tokens,
            completion_tokens=hit.completion_tokens,
            cached=True,
            response_id=hit.response_id,
        )

    async def _send_all(
        self,
        requests: Sequence[Request],
        keys: list[str],
        misses: list[int],
        results: list[Result | None],
        refused: set[str],
        progress: Progress | None,
    ) -> None:
        import openai

        cfg = self.cfg
        self.check_refused()
        async with openai.AsyncOpenAI(
            base_url=cfg.base_url, api_key=self._key.value, max_retries=0, timeout=cfg.timeout_s
        ) as client:
            s = _Session(
                client=client,
                sem=asyncio.Semaphore(cfg.concurrency),
                limits=Limits(cfg.rpm, cfg.tpm),
                done=len(requests) - len(misses),
                total=len(requests),
            )
            first = {keys[i]: requests[i] for i in reversed(misses)}  # key -> its request
            early: dict[str, CachedResponse] = {}
            if self.cache is not None:
                # every miss claimed in one transaction: one commit per batch, not per request
                claim = self.cache.claim(first, self.lease_s(), ignore_answered=refused)
                s.claimed = claim.mine
                loop = asyncio.get_running_loop()
                for key in claim.held:
                    s.waiting[key] = loop.create_future()
                # a reply stored between our lookup and the claim: another build's
                for key, hit in claim.answered.items():
                    if first[key].usable(hit.text):
                        early[key] = hit
                    else:
                        refused.add(key)
                        s.waiting[key] = loop.create_future()  # claimed on the next poll

            async def job(i: int) -> None:
                key = keys[i]
                # the same request twice in one batch is sent once and shared
                shared = s.pending.get(key)
                if shared is not None:
                    results[i] = await asyncio.shield(shared)
                else:
                    fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
                    s.pending[key] = fut
                    res = await self._resolve(s, requests[i], key, early.get(key))
                    fut.set_result(res)
                    results[i] = res
                s.done += 1
                if progress:
                    progress(s.done, s.total)

            helpers = []
            if s.waiting:
                helpers.append(asyncio.create_task(self._poll(s, first, refused)))
            if self.cache is not None:
                helpers.append(asyncio.create_task(self._renew()))
            jobs = [asyncio.create_task(job(i)) for i in misses]
            try:
                await asyncio.gather(*jobs)
            except BaseException:
                # an auth failure (or a cancel): the other requests stop now, not one by one
                for t in jobs:
                    t.cancel()
                await asyncio.gather(*jobs, return_exceptions=True)
                raise
            finally:
                for t in helpers:
                    t.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
                if self.cache is not None and s.claimed:
                    self.cache.release(s.claimed)  # what is left: failed or never sent

    async def _resolve(
        self, s: _Session, req: Request, key: str, early: CachedResponse | None
    ) -> Result:
        """A key's result: a reply stored meanwhile, one that another build sends for us
        (waited for), or our own request."""
        if early is not None:
            return self._hit(req, early)
        wait = s.waiting.get(key)
        if wait is not None:
            hit = await wait
            if hit is not None:
                return self._hit(req, hit)
        return await self._one(s, req, key)

    async def _poll(self, s: _Session, first: dict[str, Request], refused: set[str]) -> None:
        """Watch the keys another build holds, all in one query per round (backing off to
        one a second): a stored usable reply resolves its waiter; a claim that was released
        or went stale becomes ours to send."""
        assert self.cache is not None
        delay = 0.05
        while True:
            open_keys = [k for k, f in s.waiting.items() if not f.done()]
            if not open_keys:
                return
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 1.5)
            claim = self.cache.claim(open_keys, self.lease_s(), ignore_answered=refused)
            for key, hit in claim.answered.items():
                if first[key].usable(hit.text):
                    s.waiting[key].set_result(hit)
                else:
                    refused.add(key)  # claimed on the next round
            s.claimed |= claim.mine
            for key in claim.mine:
                s.waiting[key].set_result(None)

    async def _renew(self) -> None:
        """Keep this batch's claims alive while it works (its queue may outlast a lease)."""
        assert self.cache is not None
        lease = self.lease_s()
        while True:
            await asyncio.sleep(lease / 4)
            self.cache.renew(lease)

    # -- one request, retried ----------------------------------------------------------------
    async def _one(self, s: _Session, req: Request, key: str) -> Result:
        cfg = self.cfg
        su = self.usage.step(req.step, cfg.model)
        est = sum(len(m.get("content", "")) for m in req.messages) // 4 + cfg.max_tokens
        attempt = 0
        while True:
            try:
                resp = await self._attempt(s, req, attempt, est, su)
                reply = _reply(resp)
                p_tok, c_tok = _tokens(resp)
                s.limits.settle(est, None if p_tok is None else p_tok + (c_tok or 0))
                if reply is None:  # a 200 that is no chat completion: retried like a 5xx
                    raise _Failure(
                        detail="response is not a chat completion with text content",
                        retryable=True,
                        error="unparseable_response",
                    )
                break
            except _Failure as f:
                attempt += 1
                if f.status in AUTH_STATUSES:
                    su.errors += 1
                    s.stop = s.stop or self.refused_key(f.status)
                    raise s.stop from None
                if not f.retryable or attempt > cfg.max_retries:
                    su.errors += 1
                    suffix = f" after {attempt} attempt{'s' if attempt > 1 else ''}"
                    log.warning("LLM request %s failed: %s%s", req.tag, f.detail, suffix)
                    self._release(s, key)
                    return Result(error=f.error, detail=f.detail + suffix, attempts=attempt)
                delay = backoff_delay(
                    attempt - 1, cfg.backoff_base_s, cfg.backoff_max_s, f.retry_after, self._rng
                )
                if f.status == 429:  # a rate limit holds for every request, not just this one
                    s.pause_until = max(s.pause_until, time.monotonic() + delay)
                su.retries += 1
                log.info("LLM request %s: %s, retry %d in %.2fs", req.tag, f.detail, attempt, delay)
                await asyncio.sleep(delay)
        attempts = attempt + 1
        text, served = reply
        model = served or cfg.model
        su.responses += 1
        su.prompt_tokens += p_tok or 0
        su.completion_tokens += c_tok or 0
        rid = _get(resp, "id")
        rid = rid if isinstance(rid, str) else None
        if self.cache is not None and req.usable(text):
            entry = CachedResponse(text, model, p_tok or 0, c_tok or 0, rid)
            # committed now (a kill loses nothing done), with our claim released
            self.cache.put(key, entry, req.step)
            s.claimed.discard(key)
        else:
            self._release(s, key)  # refused: not stored, so whoever waits asks for itself
        return Result(
            text=text,
            model=model,
            prompt_tokens=p_tok or 0,
            completion_tokens=c_tok or 0,
            attempts=attempts,
            response_id=rid,
        )

    def _release(self, s: _Session, key: str) -> None:
        if self.cache is not None and key in s.claimed:
            s.claimed.discard(key)
            self.cache.release([key])

    async def _attempt(
        self, s: _Session, req: Request, attempt: int, est: int, su: StepUsage
    ) -> object:
        import openai

        cfg = self.cfg
        async with s.sem:
            while (wait := s.pause_until - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await s.limits.acquire(est)
            if s.stop is not None:  # the key was refused while this one queued
                raise s.stop
            su.requests += 1
            body = self.body(req)
            options: dict[str, Any] = {
                "timeout": cfg.timeout_s,
                # our retry count, where the SDK would put its own
                "headers": {"x-stainless-retry-count": str(attempt)},
            }
            try:
                # the SDK's timeout bounds each phase (connect, read, ...); asyncio's bounds
                # the whole attempt, so a server that trickles bytes cannot stall a slot
                async with asyncio.timeout(cfg.timeout_s):
                    # client.post rather than chat.completions.create: create() re-checks the
                    # body against its TypedDicts and builds a pydantic model of the reply on
                    # every call (~0.6 ms CPU, a third of the client's budget at 300 req/s).
                    # This body is plain JSON built right here, and `cast_to=object` hands
                    # back the reply's JSON as is; _reply reads the three fields we use.
                    return await s.client.post(
                        "/chat/completions",
                        cast_to=object,
                        body=body,
                        options=options,  # type: ignore[arg-type]
                    )
            except (openai.OpenAIError, TimeoutError, ValueError) as e:
                raise _classify(e) from None
