"""The rooms of one Socket.IO connection: joining (replaying from an event id), relaying each
room's events to the client, leaving, and publishing the connection's own room streams.

Room events travel through the gateway's room hub (memory, or Redis shared by every replica), the
same hub the WebSocket surface uses: it orders each room's events, gives them ids and keeps a
bounded history, so a member that reconnects is sent exactly the events after the last id it saw.
Rooms are scoped to the caller (``<owner>/<room>``), as on ``/v1/ws``. Copies of a stream's events
carry its connection's id as ``origin`` and are not relayed back to that connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from claudegate.gateway.core import RoomHub, RoomSubscription, shown
from claudegate.gateway.surfaces.websocket import FrameError

__all__ = ["Emit", "Memberships"]

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Send one event (name, object) to the connection."""
Publish = Callable[[Sequence[dict[str, Any]]], Awaitable[None]]
log = logging.getLogger("claudegate.gateway")


class Memberships:
    """The rooms a connection is a member of (at most ``limit``), and the last event id sent of each."""

    def __init__(
        self,
        hub: RoomHub,
        emit: Emit,
        origin: str,
        owner: str,
        limit: int,
        *,
        on_lagged: Callable[[str, str | None], Awaitable[None]],
    ) -> None:
        self._hub = hub
        self._emit = emit
        self._origin = origin
        self._owner = owner
        self._limit = limit
        self._on_lagged = on_lagged
        self._rooms: dict[str, tuple[RoomSubscription, asyncio.Task[None]]] = {}
        self.last_ids: dict[str, str | None] = {}
        """Room -> the id of the last room event sent to this connection (None: none yet)."""
        self._publish_failed = False

    def __contains__(self, room: object) -> bool:
        return room in self._rooms

    def key(self, room: str) -> str:
        """The hub's name of ``room`` (scoped to the caller)."""
        return f"{self._owner}/{room}"

    async def join(self, room: str, since: str | None) -> None:
        """Subscribe to ``room`` (its events after ``since`` first, when given) and relay it."""
        if room in self._rooms:
            raise FrameError(f"room: already a member of {room!r}", "room")
        if len(self._rooms) >= self._limit:
            raise FrameError(
                f"room: at most {self._limit} rooms per connection", "room", error_type="rate_limit_error"
            )
        if since is not None and not self._hub.valid_id(since):
            raise FrameError(
                f"since: {shown(since, 40)!r} is not an event id of this gateway's rooms", "since"
            )
        try:
            subscription = await self._hub.subscribe(self.key(room), since)
        except Exception as exc:
            log.warning("joining a room failed: %s", type(exc).__name__)
            raise FrameError(
                "room: the room service is unavailable; try again", "room", error_type="api_error"
            ) from None
        self.last_ids[room] = since
        task = asyncio.get_running_loop().create_task(self._relay(room, subscription))
        self._rooms[room] = (subscription, task)

    async def leave(self, room: str) -> None:
        """Stop relaying ``room``."""
        member = self._rooms.pop(room, None)
        if member is None:
            raise FrameError(f"room: not a member of {room!r}", "room")
        self.last_ids.pop(room, None)
        await self._stop(*member)

    @staticmethod
    async def _stop(subscription: RoomSubscription, task: asyncio.Task[None]) -> None:
        subscription.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _relay(self, room: str, subscription: RoomSubscription) -> None:
        origin, emit = self._origin, self._emit
        try:
            async for event in subscription:
                data = event.data
                self.last_ids[room] = event.id
                if data.get("origin") == origin:
                    continue
                name = data.get("type")
                payload = {k: v for k, v in data.items() if k not in ("type", "origin")}
                payload["event_id"], payload["room"] = event.id, room
                await emit(name if isinstance(name, str) else "message.event", payload)
            if subscription.lagged:
                await self._on_lagged(room, subscription.last_id)
        finally:
            subscription.close()
            if self._rooms.get(room, (None,))[0] is subscription:
                del self._rooms[room]

    def publisher(self, room: str) -> Publish:
        """A stream's way to copy its events into ``room`` (a failure is logged, never raised: the
        requester must not lose its answer because the room is unreachable)."""
        key, origin = self.key(room), self._origin

        async def publish(frames: Sequence[dict[str, Any]]) -> None:
            try:
                await self._hub.publish(key, [{**frame, "origin": origin} for frame in frames])
            except Exception as exc:
                if not self._publish_failed:
                    self._publish_failed = True
                    log.warning("publishing to a room failed: %s", type(exc).__name__)

        return publish

    async def close(self) -> None:
        """Stop relaying every room (the connection is gone)."""
        members = list(self._rooms.values())
        self._rooms.clear()
        for subscription, task in members:
            await self._stop(subscription, task)
