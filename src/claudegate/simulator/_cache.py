"""A simulated prompt cache: the first request with a ``cache_control`` prefix writes it, later ones read it.

Per process and per model, as the live API's cache is per organisation and model. A breakpoint is
cached only when its prefix reaches ``min_tokens``; an entry lives 5 minutes (or 1 hour with
``ttl: "1h"``) from its last use. Reads take the longest cached breakpoint prefix; the tokens between
it and each later breakpoint are written, billed under that breakpoint's TTL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from claudegate.simulator._tokens import CachePoint

__all__ = ["CacheUsage", "PromptCache"]

_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """Cache tokens of one request."""

    read: int = 0
    written_5m: int = 0
    written_1h: int = 0

    @property
    def written(self) -> int:
        return self.written_5m + self.written_1h


_NO_CACHE = CacheUsage()


class PromptCache:
    """Remembers which prompt prefixes were written, and for how long."""

    def __init__(self, min_tokens: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._min_tokens = min_tokens
        self._clock = clock
        self._expiry: dict[tuple[str, bytes], float] = {}
        self._lock = threading.Lock()

    def account(self, model: str, points: Sequence[CachePoint]) -> CacheUsage:
        """Read and write the cache for one request's breakpoints; return what it billed."""
        usable = [point for point in points if point.tokens >= self._min_tokens]
        if not usable:
            return _NO_CACHE
        now = self._clock()
        with self._lock:
            read = 0
            for point in usable:
                expiry = self._expiry.get((model, point.digest))
                if expiry is not None and expiry > now:
                    read = max(read, point.tokens)
            written = {"5m": 0, "1h": 0}
            covered = read
            for point in usable:
                if point.tokens > covered:
                    written[point.ttl] += point.tokens - covered
                    covered = point.tokens
                self._expiry[(model, point.digest)] = now + _TTL_SECONDS[point.ttl]
            if len(self._expiry) > 100_000:
                self._expiry = {key: value for key, value in self._expiry.items() if value > now}
        return CacheUsage(read=read, written_5m=written["5m"], written_1h=written["1h"])

    def clear(self) -> None:
        """Forget every cached prefix."""
        with self._lock:
            self._expiry.clear()
