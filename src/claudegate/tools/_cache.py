"""Result caches: the key is the tool's name, version and the canonical JSON of its arguments.

Only successful results are stored. ``MemoryToolCache`` lives in the process; ``RedisToolCache``
shares results between replicas through a ``redis.asyncio.Redis``.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import orjson

if TYPE_CHECKING:  # only the type: importing redis is left to whoever builds the client
    import redis.asyncio

__all__ = ["MemoryToolCache", "RedisToolCache", "ToolCache", "cache_key"]


def cache_key(name: str, version: str | None, arguments: Mapping[str, Any]) -> str:
    """``name:version:sha256(sorted-key JSON of the arguments)``: equal arguments, equal key."""
    canonical = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)
    return f"{name}:{version or ''}:{hashlib.sha256(canonical).hexdigest()}"


class ToolCache(Protocol):
    """Where results are kept between calls."""

    async def get(self, key: str) -> str | None:
        """The stored result, or None (missing or expired)."""

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds."""


class MemoryToolCache:
    """An in-process cache with expiry, evicting the least recently used past ``max_entries``."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> str | None:
        """The stored result unless it expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Store ``value`` until ``ttl`` seconds from now."""
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class RedisToolCache:
    """Results in Redis under ``prefix + key``, expiring with Redis' own TTL (milliseconds)."""

    def __init__(self, redis_client: redis.asyncio.Redis, *, prefix: str = "claudegate:tool:") -> None:
        self._redis = redis_client
        self._prefix = prefix

    async def get(self, key: str) -> str | None:
        """The stored result, or None."""
        value: Any = await self._redis.get(self._prefix + key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Store ``value`` with a TTL of ``ttl`` seconds (at least one millisecond)."""
        await self._redis.set(self._prefix + key, value.encode(), px=max(1, int(ttl * 1000)))
