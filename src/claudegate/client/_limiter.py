"""Client-side rate limiting: token buckets for requests per second and input tokens per minute.

Each bucket holds up to its burst and refills continuously. A call takes what it needs at once,
even when that drives a bucket below zero, and then sleeps until the debt is repaid: waiters are
served in arrival order and no lock is held while sleeping. A call whose wait would exceed
``max_wait`` takes nothing and fails fast with ``QuotaExceededError`` (``quota`` names the bucket);
``max_wait=0`` never waits.

Input tokens are estimated before sending (``estimate_input_tokens``: about four bytes of request
JSON per token), since the real count is only known after the answer.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable

from claudegate.errors import QuotaExceededError

__all__ = ["RateLimiter", "estimate_input_tokens"]

_BYTES_PER_TOKEN = 4


def estimate_input_tokens(content: bytes | None) -> int:
    """A cheap upper-leaning estimate of a request's input tokens from its JSON body."""
    if not content:
        return 0
    return max(1, math.ceil(len(content) / _BYTES_PER_TOKEN))


class _Bucket:
    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` can be taken (0 when it can be taken now)."""
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing / self.rate


def _rebucket(bucket: _Bucket | None, rate: float | None, capacity: float, now: float) -> _Bucket | None:
    """``bucket`` at a new rate and capacity (None when the rate is gone; full when new)."""
    if rate is None:
        return None
    if bucket is None:
        return _Bucket(rate, capacity, now)
    bucket.refill(now)
    bucket.rate = rate
    bucket.capacity = capacity
    bucket.level = min(bucket.level, capacity)
    return bucket


class RateLimiter:
    """Pace calls before they are sent.

    >>> limiter = RateLimiter(requests_per_second=5, burst=10, max_wait=2.0)
    >>> await limiter.acquire()                      # waits, or raises QuotaExceededError

    ``tokens_per_minute`` adds a second bucket for estimated input tokens (its burst is one
    minute's worth unless ``token_burst`` says otherwise). ``max_wait=None`` waits as long as needed.
    """

    def __init__(
        self,
        *,
        requests_per_second: float | None = None,
        burst: int | None = None,
        tokens_per_minute: float | None = None,
        token_burst: int | None = None,
        max_wait: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._requests: _Bucket | None = None
        self._tokens: _Bucket | None = None
        self.max_wait: float | None = None
        self.reconfigure(
            requests_per_second=requests_per_second,
            burst=burst,
            tokens_per_minute=tokens_per_minute,
            token_burst=token_burst,
            max_wait=max_wait,
        )

    def reconfigure(
        self,
        *,
        requests_per_second: float | None = None,
        burst: int | None = None,
        tokens_per_minute: float | None = None,
        token_burst: int | None = None,
        max_wait: float | None = None,
    ) -> None:
        """Change the rates in place (the constructor's arguments): what a bucket holds carries
        over, capped at its new burst, so a change never grants a fresh burst; a new bucket
        starts full and a bucket left out is dropped."""
        if requests_per_second is None and tokens_per_minute is None:
            raise ValueError("give requests_per_second, tokens_per_minute, or both")
        if (requests_per_second is not None and requests_per_second <= 0) or (
            tokens_per_minute is not None and tokens_per_minute <= 0
        ):
            raise ValueError("rates must be > 0")
        if max_wait is not None and max_wait < 0:
            raise ValueError("max_wait must be >= 0")
        with self._lock:
            now = self._clock()
            self._requests = _rebucket(
                self._requests,
                requests_per_second,
                float(burst or max(1, math.ceil(requests_per_second or 1))),
                now,
            )
            self._tokens = _rebucket(
                self._tokens,
                tokens_per_minute / 60.0 if tokens_per_minute is not None else None,
                float(token_burst or tokens_per_minute or 0),
                now,
            )
            self.max_wait = max_wait

    def reserve(self, tokens: int = 0) -> float:
        """Take one request (and ``tokens``) now; return how long the caller must wait before sending.

        Raises ``QuotaExceededError`` without taking anything when the wait would pass ``max_wait``
        or when ``tokens`` is more than the token bucket can ever hold.
        """
        with self._lock:
            now = self._clock()
            waits: list[tuple[float, str]] = []
            if self._requests is not None:
                self._requests.refill(now)
                waits.append((self._requests.wait_for(1.0), "rate_limiter.requests_per_second"))
            if self._tokens is not None and tokens > 0:
                if tokens > self._tokens.capacity:
                    raise QuotaExceededError(
                        f"an estimated {tokens} input tokens is more than the limiter's burst of "
                        f"{self._tokens.capacity:.0f}",
                        quota="rate_limiter.tokens_per_minute",
                    )
                self._tokens.refill(now)
                waits.append((self._tokens.wait_for(float(tokens)), "rate_limiter.tokens_per_minute"))
            wait, bucket = max(waits, default=(0.0, ""))
            if self.max_wait is not None and wait > self.max_wait:
                raise QuotaExceededError(
                    f"client rate limit: the call would wait {wait:.2f} s (max_wait {self.max_wait} s)",
                    quota=bucket,
                )
            if self._requests is not None:
                self._requests.level -= 1.0
            if self._tokens is not None:
                self._tokens.level -= tokens
            return wait

    async def acquire(self, tokens: int = 0) -> float:
        """Wait for a slot to send one request of ``tokens`` estimated input tokens; return the wait."""
        wait = self.reserve(tokens)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    def available(self) -> dict[str, float]:
        """What each bucket holds right now (negative while callers are waiting)."""
        with self._lock:
            now = self._clock()
            levels: dict[str, float] = {}
            if self._requests is not None:
                self._requests.refill(now)
                levels["requests"] = self._requests.level
            if self._tokens is not None:
                self._tokens.refill(now)
                levels["tokens"] = self._tokens.level
            return levels
