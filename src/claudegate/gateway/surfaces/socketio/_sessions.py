"""Sessions that outlive a dropped Socket.IO connection, for ``recovery_window`` seconds: whose
they are and the rooms they were in (with the last room event id each was sent), so that a client
reconnecting with its ``session_id`` resumes its rooms and is sent what it missed.

A session is taken once: the reconnection that claims it removes it. In memory on one replica;
in Redis (``SET … PX`` / ``GETDEL``) when ``storage.redis_url`` is set, so a client may reconnect
to any replica.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from claudegate.gateway._config import GatewayConfig

__all__ = ["Detached", "MemorySessions", "RedisSessions", "Sessions", "open_sessions"]


@dataclass(frozen=True, slots=True)
class Detached:
    """A session whose connection dropped: its owner and its rooms (room -> last event id sent)."""

    owner: str
    rooms: dict[str, str | None]

    def encode(self) -> bytes:
        return orjson.dumps({"owner": self.owner, "rooms": self.rooms})

    @classmethod
    def decode(cls, data: bytes | str) -> Detached | None:
        try:
            value: Any = orjson.loads(data)
            owner, rooms = value["owner"], value["rooms"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None
        if not isinstance(owner, str) or not isinstance(rooms, dict):
            return None
        return cls(owner, {str(k): v if isinstance(v, str) else None for k, v in rooms.items()})


class Sessions(ABC):
    """Where detached sessions wait for their client."""

    @abstractmethod
    async def start(self) -> None:
        """Open connections (at the surface's start)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections (at the surface's close)."""

    @abstractmethod
    async def keep(self, session_id: str, session: Detached, ttl: float) -> None:
        """Keep ``session`` for ``ttl`` seconds (replacing one kept under the same id)."""

    @abstractmethod
    async def take(self, session_id: str) -> Detached | None:
        """The session kept under ``session_id``, removed; None when there is none (any more)."""


class MemorySessions(Sessions):
    """Sessions in this process; at most ``limit`` (the oldest go first), expired by ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = 100_000) -> None:
        self._clock = clock
        self._limit = limit
        self._items: OrderedDict[str, tuple[float, Detached]] = OrderedDict()

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        self._items.clear()

    async def keep(self, session_id: str, session: Detached, ttl: float) -> None:
        if ttl <= 0:
            return
        self._items.pop(session_id, None)
        self._items[session_id] = (self._clock() + ttl, session)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)

    async def take(self, session_id: str) -> Detached | None:
        kept = self._items.pop(session_id, None)
        if kept is None or kept[0] <= self._clock():
            return None
        return kept[1]


class RedisSessions(Sessions):
    """Sessions in Redis under ``<prefix>:sio:session:<id>``, expiring on their own."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._client: Redis | None = None

    def _key(self, session_id: str) -> str:
        return f"{self._prefix}:sio:session:{session_id}"

    async def start(self) -> None:
        from redis.asyncio import Redis

        self._client = Redis.from_url(self._url, socket_timeout=5.0, socket_connect_timeout=2.0)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def keep(self, session_id: str, session: Detached, ttl: float) -> None:
        if ttl <= 0 or self._client is None:
            return
        await self._client.set(self._key(session_id), session.encode(), px=max(1, int(ttl * 1000)))

    async def take(self, session_id: str) -> Detached | None:
        if self._client is None:
            return None
        data = await self._client.getdel(self._key(session_id))
        return Detached.decode(data) if data is not None else None


def open_sessions(config: GatewayConfig, clock: Callable[[], float] = time.monotonic) -> Sessions:
    """Redis when ``storage.redis_url`` is set (any replica can resume), else this process."""
    storage = config.storage
    if storage is not None and storage.redis_url:
        return RedisSessions(storage.redis_url, storage.redis_prefix)
    return MemorySessions(clock)
