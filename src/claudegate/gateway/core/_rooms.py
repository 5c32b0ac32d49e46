"""Rooms: named channels whose every member receives what is published to them, in order, with a
bounded history so that a late joiner can catch up from an event id.

``RoomHub`` is the small interface the WebSocket surface talks to. ``MemoryRoomHub`` serves one
process; ``RedisRoomHub`` (``_redis_rooms``, Redis Streams for the history and pub/sub for live
fan-out) serves every replica that shares a Redis. One hub per app: ``open_room_hub(config)`` picks
it (Redis when ``storage.redis_url`` is set), the app starts it at startup and closes it at shutdown.

Publishing never waits for a member: each subscription buffers at most ``buffer`` events, and a
member that falls that far behind is dropped (``lagged``); it can rejoin from the last id it saw.
Event ids are opaque strings, ordered within their room.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from claudegate.gateway._config import GatewayConfig

__all__ = ["MemoryRoomHub", "RoomEvent", "RoomHub", "RoomSubscription", "open_room_hub"]

DEFAULT_HISTORY = 1000
DEFAULT_BUFFER = 1000

EventOrder = Callable[[str], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """One published message: its id (ordered within the room) and its JSON object."""

    id: str
    data: dict[str, Any]


class RoomSubscription:
    """One member's view of one room: the history it asked for, then live events, each once, in order.

    Iterate it (``async for event in subscription``) until the member leaves (``close()``) or falls
    behind (iteration ends with ``lagged`` true; ``last_id`` is the last event it received).
    """

    def __init__(
        self,
        room: str,
        *,
        buffer: int,
        order: EventOrder,
        on_close: Callable[[RoomSubscription], None],
        replaying: bool = False,
    ) -> None:
        self.room = room
        self.lagged = False
        self.closed = False
        self.last_id: str | None = None
        self._buffer: deque[RoomEvent] = deque()
        self._limit = buffer
        self._order = order
        self._newest: tuple[int, ...] | None = None
        self._wake = asyncio.Event()
        self._on_close = on_close
        # Live events that arrive while the history is still being read wait here, so that they
        # follow the history instead of overtaking it.
        self._held: list[RoomEvent] | None = [] if replaying else None

    def deliver(self, event: RoomEvent) -> None:
        """Take one live event (never waits; drops the member when its buffer is full)."""
        if self.closed or self.lagged:
            return
        if self._held is not None:
            if len(self._held) >= self._limit:
                self._lag()
            else:
                self._held.append(event)
            return
        self._push(event, bounded=True)

    def replayed(self, history: Sequence[RoomEvent]) -> None:
        """Queue the history read for this member, then whatever arrived live meanwhile."""
        held, self._held = self._held or [], None
        for event in history:
            self._push(event, bounded=False)  # the hub bounds its history
        for event in held:
            self._push(event, bounded=True)

    def _push(self, event: RoomEvent, *, bounded: bool) -> None:
        if self.closed or self.lagged:
            return
        position = self._order(event.id)
        if self._newest is not None and position <= self._newest:
            return  # already queued (a live event also found in the history)
        if bounded and len(self._buffer) >= self._limit:
            self._lag()
            return
        self._newest = position
        self._buffer.append(event)
        self._wake.set()

    def interrupt(self) -> None:
        """End the subscription as ``lagged``: the hub can no longer vouch for what it delivers."""
        if not self.closed:
            self._lag()

    def _lag(self) -> None:
        self.lagged = True
        self._buffer.clear()
        self._wake.set()

    def __aiter__(self) -> RoomSubscription:
        return self

    async def __anext__(self) -> RoomEvent:
        while not self._buffer:
            if self.closed or self.lagged:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        event = self._buffer.popleft()
        self.last_id = event.id
        return event

    def close(self) -> None:
        """Leave the room (idempotent); iteration ends."""
        if self.closed:
            return
        self.closed = True
        self._buffer.clear()
        self._wake.set()
        self._on_close(self)


class RoomHub(ABC):
    """Where rooms live: publish to a room, subscribe to one, replay its recent history."""

    backend: ClassVar[str]
    """``memory`` or ``redis`` (reported to clients in ``session.created``)."""

    @abstractmethod
    async def start(self) -> None:
        """Open connections (called once, at the app's startup)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; every subscription ends (called once, at shutdown)."""

    @abstractmethod
    async def publish(self, room: str, messages: Sequence[dict[str, Any]]) -> list[str]:
        """Append ``messages`` to the room's history and deliver them to its members; their ids."""

    @abstractmethod
    async def subscribe(self, room: str, since: str | None = None) -> RoomSubscription:
        """Join ``room``: events published from now on, preceded (with ``since``) by the retained
        history after that event id. Returns once live delivery is in place."""

    @abstractmethod
    def valid_id(self, event_id: str) -> bool:
        """Whether ``event_id`` has the form of this hub's event ids (for ``since``)."""


@dataclass(slots=True)
class _Room:
    history: deque[RoomEvent]
    members: set[RoomSubscription] = field(default_factory=set)
    sequence: int = 0


def _decimal_order(event_id: str) -> tuple[int, ...]:
    return (int(event_id),)


class MemoryRoomHub(RoomHub):
    """Rooms in this process: ids are decimal sequence numbers per room.

    At most ``max_rooms`` rooms are remembered; the least recently used room without members is
    forgotten first (its history with it).
    """

    backend = "memory"

    def __init__(
        self, *, history: int = DEFAULT_HISTORY, buffer: int = DEFAULT_BUFFER, max_rooms: int = 10_000
    ) -> None:
        self._history = history
        self._buffer = buffer
        self._max_rooms = max_rooms
        self._rooms: OrderedDict[str, _Room] = OrderedDict()

    def _room(self, name: str) -> _Room:
        room = self._rooms.get(name)
        if room is None:
            room = self._rooms[name] = _Room(deque(maxlen=self._history))
            self._evict()
        else:
            self._rooms.move_to_end(name)
        return room

    def _evict(self) -> None:
        if len(self._rooms) <= self._max_rooms:
            return
        for name in [name for name, room in self._rooms.items() if not room.members]:
            del self._rooms[name]
            if len(self._rooms) <= self._max_rooms:
                return

    async def publish(self, room: str, messages: Sequence[dict[str, Any]]) -> list[str]:
        """Append and deliver at once (members' buffers absorb the burst)."""
        state = self._room(room)
        ids = []
        for message in messages:
            state.sequence += 1
            event = RoomEvent(str(state.sequence), message)
            state.history.append(event)
            for member in list(state.members):
                member.deliver(event)
            ids.append(event.id)
        return ids

    async def subscribe(self, room: str, since: str | None = None) -> RoomSubscription:
        """Join ``room`` (the history is read in the same step, so nothing falls in between)."""
        state = self._room(room)

        def leave(subscription: RoomSubscription) -> None:
            state.members.discard(subscription)

        subscription = RoomSubscription(
            room, buffer=self._buffer, order=_decimal_order, on_close=leave, replaying=since is not None
        )
        state.members.add(subscription)
        if since is not None:
            after = int(since)
            subscription.replayed([event for event in state.history if int(event.id) > after])
        return subscription

    async def start(self) -> None:
        """Nothing to open."""

    def valid_id(self, event_id: str) -> bool:
        """A decimal sequence number (``0``: the whole retained history)."""
        return event_id.isascii() and event_id.isdigit() and len(event_id) <= 20

    async def close(self) -> None:
        """End every subscription."""
        for room in self._rooms.values():
            for member in list(room.members):
                member.close()
        self._rooms.clear()


def open_room_hub(
    config: GatewayConfig, *, history: int = DEFAULT_HISTORY, buffer: int = DEFAULT_BUFFER
) -> RoomHub:
    """The hub for ``config``: Redis when ``storage.redis_url`` is set (shared by every replica),
    else in this process. Not started: call ``start()``."""
    storage = config.storage
    if storage is not None and storage.redis_url:
        from claudegate.gateway.core._redis_rooms import RedisRoomHub

        return RedisRoomHub(storage.redis_url, prefix=storage.redis_prefix, history=history, buffer=buffer)
    return MemoryRoomHub(history=history, buffer=buffer)
