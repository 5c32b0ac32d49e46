"""Retry policy: which failures to retry and how long to wait, as the official SDKs do.

Retried: connection errors and timeouts, and statuses 408, 409, 429 and ≥ 500 — unless the
response says ``x-should-retry: false``; always when it says ``x-should-retry: true``. The wait
honours ``retry-after-ms``, then ``retry-after`` (seconds or an HTTP date) when it lies in
(0, 60] seconds; otherwise it is ``min(initial · 2^n, max) · (1 − jitter · random)``.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["RetryPolicy"]

_RETRY_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to retry. ``RetryPolicy()`` is the official SDKs' default (2 retries).

    >>> client = AsyncClient(retry=RetryPolicy(max_retries=4))
    >>> await client.messages.create(..., retry=RetryPolicy.none())   # this call only: no retry
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0
    retry_connection_errors: bool = True
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must lie in [0, 1]")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_retries=0)

    def should_retry_status(self, status_code: int, headers: Mapping[str, str] | None = None) -> bool:
        """Whether a response with this status (and headers) is worth another attempt."""
        if headers is not None:
            verdict = headers.get("x-should-retry")
            if verdict == "true":
                return True
            if verdict == "false":
                return False
        return status_code in _RETRY_STATUSES or status_code >= 500

    def retry_after(self, headers: Mapping[str, str] | None) -> float | None:
        """The server's requested wait in seconds, when it gives a usable one (0 < s ≤ max)."""
        if not headers:
            return None
        seconds = _parse_retry_after(headers)
        if seconds is not None and 0 < seconds <= self.max_retry_after:
            return seconds
        return None

    def delay(self, retry_number: int, headers: Mapping[str, str] | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (0 for the first retry)."""
        requested = self.retry_after(headers)
        if requested is not None:
            return requested
        backoff = min(self.initial_delay * 2.0 ** min(retry_number, 64), self.max_delay)
        return max(0.0, backoff * (1.0 - self.jitter * self.random()))


def _parse_retry_after(headers: Mapping[str, str]) -> float | None:
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return float(raw_ms) / 1000.0
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    return float(email.utils.mktime_tz(parsed)) - time.time()
