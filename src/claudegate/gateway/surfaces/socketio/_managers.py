"""python-socketio's client managers, with one addition: a hook called once Socket.IO has told a
client it is connected (its ``CONNECT`` packet is queued), so the first event the surface sends,
``session.created``, always follows it. In this process (``AsyncManager``) or across replicas
through Redis (``AsyncRedisManager``), chosen by ``storage.redis_url``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import socketio

__all__ = ["announcing_manager"]

Connected = Callable[[str], Awaitable[None]]


class _Announcing(socketio.AsyncManager):  # type: ignore[misc]
    on_connected: Connected

    async def connect(self, sid: str, namespace: str) -> Any:
        result = await super().connect(sid, namespace)
        await self.on_connected(sid)
        return result


class _AnnouncingRedis(socketio.AsyncRedisManager):  # type: ignore[misc]
    on_connected: Connected

    async def connect(self, sid: str, namespace: str) -> Any:
        result = await super().connect(sid, namespace)
        await self.on_connected(sid)
        return result


def announcing_manager(on_connected: Connected, redis_url: str | None, *, channel: str) -> Any:
    """A manager calling ``on_connected(sid)`` after each connection; Redis-backed with ``redis_url``."""
    manager: Any = _AnnouncingRedis(redis_url, channel=channel) if redis_url else _Announcing()
    manager.on_connected = on_connected
    return manager
