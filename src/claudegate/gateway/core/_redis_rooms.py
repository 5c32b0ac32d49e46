"""Rooms shared by every replica through Redis: a Redis Stream per room holds its bounded, ordered
history, and pub/sub carries live events to the replicas whose clients are members.

Publishing is one Lua round trip per batch: ``XADD`` (trimmed to ``history`` entries) then
``PUBLISH`` of the new entry with its id, atomically, so every replica sees a room's events in
stream-id order. Each replica holds ONE pub/sub connection, subscribed to the rooms its members
are in, and fans out locally. Keys and channels are ``{<prefix>:room:<room>}`` (the storage
``redis_prefix``); a room's stream expires ``ttl`` seconds after its last event.

A live event lost while the pub/sub connection was broken cannot be told apart from none sent, so a
connection failure ends every local subscription as ``lagged``: members rejoin with ``since``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from claudegate.gateway.core._rooms import (
    DEFAULT_BUFFER,
    DEFAULT_HISTORY,
    RoomEvent,
    RoomHub,
    RoomSubscription,
)

__all__ = ["RedisRoomHub"]

log = logging.getLogger("claudegate.gateway")

_PUBLISH = """
local ids = {}
for i = 3, #ARGV do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'd', ARGV[i])
  redis.call('PUBLISH', KEYS[1], id .. ' ' .. ARGV[i])
  ids[#ids + 1] = id
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return ids
"""
_STREAM_ID = re.compile(r"\d{1,20}(-\d{1,20})?")
_CONFIRM_TIMEOUT = 5.0
_READ_TIMEOUT = 1.0
_RETRY_DELAY = 0.5


def _stream_order(event_id: str) -> tuple[int, ...]:
    milliseconds, _, sequence = event_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(event_id: object, fields: object) -> RoomEvent:
    payload = fields.get(b"d") if isinstance(fields, dict) else None
    data = orjson.loads(payload) if isinstance(payload, bytes) else {}
    return RoomEvent(_text(event_id), data if isinstance(data, dict) else {})


class RedisRoomHub(RoomHub):
    """``RoomHub`` over Redis (see the module docstring).

    Example::

        hub = RedisRoomHub("redis://127.0.0.1:6379/0", prefix="cg")
        await hub.start()
        subscription = await hub.subscribe("team-a/review", since="0")
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "cg",
        history: int = DEFAULT_HISTORY,
        buffer: int = DEFAULT_BUFFER,
        ttl: float = 86_400.0,
        client_name: str = "claudegate-rooms",
    ) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"invalid Redis prefix {prefix!r}")
        self._url = url
        self._prefix = prefix
        self._history = history
        self._buffer = buffer
        self._ttl_ms = int(ttl * 1000)
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._members: dict[str, set[RoomSubscription]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._pending: set[asyncio.Task[Any]] = set()
        self._control = f"{{{prefix}:room}}:hub"
        self._client_name = client_name
        self._closed = False

    def _channel(self, room: str) -> str:
        return f"{{{self._prefix}:room:{room}}}"

    async def start(self) -> None:
        """Open the client and the pub/sub reader; an unreachable Redis is retried, not fatal."""
        client = Redis.from_url(
            self._url,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
            health_check_interval=30,
            client_name=self._client_name,
        )
        self._client = client
        self._script = client.register_script(_PUBLISH)
        # Subscribed from the start (to a channel nobody publishes on) so that the reader always
        # has a connection to read, whatever rooms come and go.
        self._pubsub = client.pubsub()
        self._confirmed[self._control] = asyncio.Event()
        try:
            await self._pubsub.subscribe(self._control)
        except Exception as exc:
            log.warning("room hub: Redis is not reachable yet (%s); retrying", type(exc).__name__)
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="claudegate-rooms")

    async def close(self) -> None:
        """Stop the reader, end every local subscription, release the connections."""
        self._closed = True
        if self._reader is not None:
            # redis-py can absorb a cancellation that races its read timeout; the flag ends the
            # loop at its next turn (at most one read timeout later) all the same.
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        for members in list(self._members.values()):
            for member in list(members):
                member.close()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()

    async def publish(self, room: str, messages: Sequence[dict[str, Any]]) -> list[str]:
        """Append to the room's stream and publish, in one atomic round trip."""
        if not messages:
            return []
        payloads = [orjson.dumps(message) for message in messages]
        ids = await self._script(keys=[self._channel(room)], args=[self._history, self._ttl_ms, *payloads])
        return [_text(event_id) for event_id in ids]

    async def subscribe(self, room: str, since: str | None = None) -> RoomSubscription:
        """Subscribe (confirmed by Redis before the history is read, so no event falls between)."""
        channel = self._channel(room)
        subscription = RoomSubscription(
            room,
            buffer=self._buffer,
            order=_stream_order,
            on_close=lambda member: self._leave(channel, member),
            replaying=since is not None,
        )
        members = self._members.setdefault(channel, set())
        members.add(subscription)
        try:
            await self._listen(channel)
            if since is not None:
                assert self._client is not None
                entries = await self._client.xrange(channel, min="(" + since, max="+", count=self._history)
                subscription.replayed([_entry(event_id, fields) for event_id, fields in entries or []])
        except BaseException:
            subscription.close()
            raise
        return subscription

    async def _listen(self, channel: str) -> None:
        confirmed = self._confirmed.get(channel)
        if confirmed is None:
            confirmed = self._confirmed[channel] = asyncio.Event()
            assert self._pubsub is not None
            await self._pubsub.subscribe(channel)
        await asyncio.wait_for(confirmed.wait(), _CONFIRM_TIMEOUT)

    def _leave(self, channel: str, member: RoomSubscription) -> None:
        members = self._members.get(channel)
        if members is None:
            return
        members.discard(member)
        if members or self._pubsub is None:
            return
        del self._members[channel]
        self._confirmed.pop(channel, None)
        task = asyncio.get_running_loop().create_task(self._unsubscribe(channel))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _unsubscribe(self, channel: str) -> None:
        if channel in self._members or self._pubsub is None:
            return  # someone joined again meanwhile
        try:
            await self._pubsub.unsubscribe(channel)
        except Exception as exc:
            log.debug("room hub: unsubscribing failed (%s)", type(exc).__name__)

    def valid_id(self, event_id: str) -> bool:
        """A Redis stream id, ``<milliseconds>-<sequence>`` or ``<milliseconds>`` (``0``: all)."""
        return _STREAM_ID.fullmatch(event_id) is not None

    async def _read(self) -> None:
        while not self._closed:
            pubsub = self._pubsub
            assert pubsub is not None
            try:
                if not pubsub.subscribed:
                    await pubsub.subscribe(self._control)
                message = await pubsub.get_message(timeout=_READ_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("room hub: the Redis pub/sub connection failed (%s)", type(exc).__name__)
                await self._interrupted(pubsub)
                await asyncio.sleep(_RETRY_DELAY)  # a back-off between reconnection attempts
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = _text(message.get("channel"))
        if kind == "subscribe":
            confirmed = self._confirmed.get(channel)
            if confirmed is not None:
                confirmed.set()
        elif kind == "message":
            members = self._members.get(channel)
            if not members:
                return
            data = message.get("data")
            if not isinstance(data, bytes):
                return
            event_id, _, payload = data.partition(b" ")
            try:
                event = RoomEvent(event_id.decode(), orjson.loads(payload))
            except (UnicodeDecodeError, orjson.JSONDecodeError):
                log.warning("room hub: an unreadable message on %s was skipped", channel)
                return
            for member in list(members):
                member.deliver(event)

    async def _interrupted(self, broken: PubSub) -> None:
        # Events published while the connection was down are lost to this replica's members: end
        # their subscriptions (they rejoin from their last id) and start over on a fresh pub/sub.
        for members in list(self._members.values()):
            for member in list(members):
                member.interrupt()
        self._members.clear()
        self._confirmed = {self._control: asyncio.Event()}
        assert self._client is not None
        self._pubsub = self._client.pubsub()
        try:
            await broken.aclose()
        except Exception as exc:
            log.debug("room hub: closing the broken pub/sub failed (%s)", type(exc).__name__)
