"""The rooms of one WebSocket connection: joining (with an optional replay), relaying each room's
events to the client, leaving, and publishing the connection's own room streams.

Rooms are scoped to the caller: the hub sees ``<owner>/<room>`` (the key id, the JWT subject, or
``anonymous`` on an open gateway; a JWT's tenant, ``tenant:<name>``, when ``auth.jwt.claims.rooms``
names one), so callers with different keys never share a room by picking the same name.
A stream's own client gets its events directly; its copies in the room carry the connection id as
``origin`` and are not relayed back to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from claudegate.gateway.core import RoomHub, RoomSubscription, shown
from claudegate.gateway.surfaces.websocket._flow import Outbox, OutboxClosed
from claudegate.gateway.surfaces.websocket._protocol import FrameError, RoomJoin, RoomLeave
from claudegate.gateway.surfaces.websocket._streams import Publish

__all__ = ["Memberships"]

log = logging.getLogger("claudegate.gateway")


class Memberships:
    """The rooms a connection is a member of (at most ``limit``)."""

    def __init__(
        self, hub: RoomHub, outbox: Outbox, origin: str, owner: Callable[[], str], limit: int
    ) -> None:
        self._hub = hub
        self._outbox = outbox
        self._origin = origin
        self._owner = owner
        self._limit = limit
        self._rooms: dict[str, tuple[RoomSubscription, asyncio.Task[None]]] = {}
        self._publish_failed = False

    def __len__(self) -> int:
        return len(self._rooms)

    def _key(self, room: str) -> str:
        return f"{self._owner()}/{room}"

    async def join(self, frame: RoomJoin) -> None:
        """Subscribe, acknowledge with ``room.joined``, then relay (the replay first)."""
        if frame.room in self._rooms:
            raise FrameError(f"room: already a member of {frame.room!r}", "room")
        if len(self._rooms) >= self._limit:
            raise FrameError(
                f"room: at most {self._limit} rooms per connection", "room", error_type="rate_limit_error"
            )
        if frame.since is not None and not self._hub.valid_id(frame.since):
            raise FrameError(
                f"since: {shown(frame.since, 40)!r} is not an event id of this gateway's rooms", "since"
            )
        try:
            subscription = await self._hub.subscribe(self._key(frame.room), frame.since)
        except Exception as exc:
            log.warning("joining a room failed: %s", type(exc).__name__)
            raise FrameError(
                "room: the room service is unavailable; try again", "room", error_type="api_error"
            ) from None
        reply: dict[str, Any] = {"type": "room.joined", "room": frame.room}
        if frame.since is not None:
            reply["since"] = frame.since
        if frame.event_id is not None:
            reply["client_event_id"] = frame.event_id
        try:
            await self._outbox.put(reply)
        except BaseException:
            subscription.close()
            raise
        task = asyncio.get_running_loop().create_task(self._relay(frame.room, subscription))
        self._rooms[frame.room] = (subscription, task)

    async def leave(self, frame: RoomLeave) -> None:
        """Stop relaying the room, then acknowledge with ``room.left``."""
        member = self._rooms.pop(frame.room, None)
        if member is None:
            raise FrameError(f"room: not a member of {frame.room!r}", "room")
        subscription, task = member
        subscription.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        reply: dict[str, Any] = {"type": "room.left", "room": frame.room}
        if frame.event_id is not None:
            reply["client_event_id"] = frame.event_id
        await self._outbox.put(reply)

    async def _relay(self, room: str, subscription: RoomSubscription) -> None:
        origin, put = self._origin, self._outbox.put
        try:
            async for event in subscription:
                data = event.data
                if data.get("origin") == origin:
                    continue
                await put({**data, "event_id": event.id, "room": room})
            if subscription.lagged:
                last = subscription.last_id
                hint = f"; rejoin with since={last}" if last is not None else "; rejoin to follow it again"
                lagged: dict[str, Any] = {
                    "type": "error",
                    "room": room,
                    "error": {"type": "overloaded_error", "message": f"fell behind room {room!r}{hint}"},
                }
                if last is not None:
                    lagged["last_event_id"] = last
                await put(lagged)
        except OutboxClosed:
            pass
        finally:
            subscription.close()
            if self._rooms.get(room, (None,))[0] is subscription:
                del self._rooms[room]

    def publisher(self, room: str) -> Publish:
        """A stream's way to copy its messages into ``room`` (a failure is logged, never raised:
        the stream's own client must not lose its answer because the room is unreachable)."""
        key, origin = self._key(room), self._origin

        async def publish(frames: Sequence[dict[str, Any]]) -> None:
            try:
                await self._hub.publish(key, [{**frame, "origin": origin} for frame in frames])
            except Exception as exc:
                if not self._publish_failed:
                    self._publish_failed = True
                    log.warning("publishing to a room failed: %s", type(exc).__name__)

        return publish

    async def close(self) -> None:
        """Leave every room (no acknowledgements: the connection is closing)."""
        members = list(self._rooms.values())
        self._rooms.clear()
        for subscription, task in members:
            subscription.close()
            task.cancel()
        if members:
            await asyncio.gather(*(task for _, task in members), return_exceptions=True)
