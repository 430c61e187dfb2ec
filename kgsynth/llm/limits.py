"""Async token buckets for requests-per-minute and tokens-per-minute limits.

A bucket holds one second's worth of its per-minute budget, so requests are spread evenly
over the minute instead of bursting a whole minute's quota at once: providers enforce their
per-minute limits on much shorter windows, and a burst trips them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """`await acquire(n)` waits until `n` units fit the budget, then takes them.

    A request bigger than the whole bucket (a long prompt under a small TPM budget) waits for
    a full bucket and then leaves it in debt, rather than waiting forever. Waiters are served
    first come, first served (one lock), so a big request is not starved by small ones.
    Create one inside the event loop that uses it: its lock belongs to that loop.
    """

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0  # units per second
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self._clock = clock
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, n: float = 1.0) -> None:
        async with self._lock:
            self._refill()
            need = min(n, self.capacity)
            while self.level < need:
                await asyncio.sleep((need - self.level) / self.rate)
                self._refill()
            self.level -= n

    def refund(self, n: float) -> None:
        """Give back units taken on an estimate (or take more: n < 0) once the real cost is
        known, e.g. the usage a response reports against the tokens reserved for it."""
        self._refill()
        self.level = min(self.capacity, self.level + n)


class Limits:
    """The RPM and TPM buckets a client shares between its concurrent requests."""

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self.requests = TokenBucket(rpm) if rpm else None
        self.tokens = TokenBucket(tpm) if tpm else None

    async def acquire(self, est_tokens: int) -> None:
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            await self.tokens.acquire(est_tokens)

    def settle(self, est_tokens: int, used_tokens: int | None) -> None:
        """Correct the TPM bucket by what the request really used (nothing if unknown)."""
        if self.tokens is not None and used_tokens is not None:
            self.tokens.refund(est_tokens - used_tokens)
