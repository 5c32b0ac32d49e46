"""python-socketio's client managers, with two additions: a hook called once Socket.IO has told a
client it is connected (its ``CONNECT`` packet is queued), so the first event the surface sends,
``session.created``, always follows it; and ``aclose()``, which releases what the manager opened.
In this process (``AsyncManager``) or across replicas through Redis (``AsyncRedisManager``),
chosen by ``storage.redis_url``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

__all__ = ["announcing_manager"]

Connected = Callable[[str], Awaitable[None]]


class _Hooks:
    on_connected: Connected

    async def connect(self, sid: str, namespace: str) -> Any:
        result = await super().connect(sid, namespace)  # type: ignore[misc]
        await self.on_connected(sid)
        return result

    async def aclose(self) -> None:
        """Nothing to release in this process."""


class _LocalManager(_Hooks, socketio.AsyncManager):  # type: ignore[misc]
    pass


class _RedisManager(_Hooks, socketio.AsyncRedisManager):  # type: ignore[misc]
    async def aclose(self) -> None:
        """Stop the reader of the Redis channel and close its connections."""
        listener = getattr(self, "thread", None)
        if isinstance(listener, asyncio.Task):
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        for name in ("pubsub", "redis"):
            connection = getattr(self, name, None)
            if connection is not None:
                await connection.aclose()


def announcing_manager(on_connected: Connected, redis_url: str | None, *, channel: str) -> Any:
    """A manager calling ``on_connected(sid)`` after each connection; Redis-backed with ``redis_url``."""
    manager: Any = _RedisManager(redis_url, channel=channel) if redis_url else _LocalManager()
    manager.on_connected = on_connected
    return manager
