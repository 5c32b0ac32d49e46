"""One Socket.IO connection once its handshake is accepted: its caller, its session id, its rooms,
and its streams — the same ``Streams`` as a ``/v1/ws`` connection (caps on streams at once and new
streams per minute, one core call per stream, ``tool_result`` continuations), whose messages are
emitted as Socket.IO events named by their ``type``.

Each method raises ``FrameError`` (naming the field) for a message it cannot act on; the surface
answers it with an ``error`` event.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from claudegate.gateway._config import SocketIOSettings
from claudegate.gateway.core import GatewayCore, Principal
from claudegate.gateway.surfaces.socketio._rooms import Memberships
from claudegate.gateway.surfaces.socketio._sender import Sender
from claudegate.gateway.surfaces.websocket import (
    FrameError,
    MessageCancel,
    MessageCreate,
    Streams,
    ToolResult,
    parse_message,
)

__all__ = ["ROUTE", "Connection", "EventSink", "new_session_id"]

ROUTE = "/socket.io"
"""The route label of Socket.IO streams in the gateway's metrics."""


_TYPED = '{"type":"'
_NAME_AT = len(_TYPED)


def new_session_id() -> str:
    """A fresh session id: what a client presents to resume after a reconnection (keep it private)."""
    return "sio_" + os.urandom(16).hex()


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise FrameError("the event's argument must be a JSON object")
    return data


class EventSink:
    """A stream's messages as Socket.IO events: the ``type`` is the event name, the rest its object.

    Messages that come already encoded (``{"type":"<name>",…}``, as ``Streams`` writes them) are
    sent without being decoded: the event's object is the same text without its ``type``."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender
        self._counter = 0

    def next_event_id(self) -> str:
        self._counter += 1
        return f"evt_{self._counter}"

    async def put(self, frame: dict[str, Any]) -> None:
        # The frame is shared with the room's copy: read it, never change it.
        payload = {key: value for key, value in frame.items() if key != "type"}
        payload.setdefault("event_id", self.next_event_id())
        await self._sender.emit(frame["type"], payload)

    async def put_text(self, text: str) -> None:
        if text.startswith(_TYPED):
            end = text.find('",', _NAME_AT)
            if end > 0:
                await self._sender.emit_text(text[_NAME_AT:end], "{" + text[end + 2 :])
                return
        await self.put(orjson.loads(text))

    async def put_texts(self, texts: list[str]) -> None:
        for text in texts:
            await self.put_text(text)

    def write_texts(self, texts: list[str], at_once: bool = False) -> bool:
        return False  # every Socket.IO packet goes through the sender's awaited, ordered path


class Connection:
    """The state of one connection (``sid``) of the caller ``principal``."""

    def __init__(
        self,
        core: GatewayCore,
        settings: SocketIOSettings,
        sid: str,
        principal: Principal,
        *,
        rooms: Memberships,
        sender: Sender,
        session_id: str,
        forwarded: Mapping[str, str],
        clock: Callable[[], float],
    ) -> None:
        self.sid = sid
        self.principal = principal
        self.session_id = session_id
        self.rooms = rooms
        self.sender = sender
        self.streams = Streams(
            core,
            settings,
            EventSink(sender),
            rooms,
            session_id=session_id,
            principal=lambda: principal,
            forwarded=forwarded,
            clock=clock,
            dialect="socketio",
            route=ROUTE,
        )

    async def create(self, data: Any) -> str:
        """Start the stream a ``message.create`` asks for; its stream id."""
        frame = parse_message("message.create", _object(data))
        assert isinstance(frame, MessageCreate)
        await self.streams.create(frame)
        return frame.stream_id

    async def resume(self, data: Any) -> str:
        """Start the stream that continues a finished ``tool_use`` stream with its results."""
        frame = parse_message("tool_result", _object(data))
        assert isinstance(frame, ToolResult)
        await self.streams.resume(frame)
        return frame.stream_id

    def cancel(self, data: Any) -> str:
        """Stop a running stream of this connection (it ends with its ``message.done``)."""
        frame = parse_message("message.cancel", _object(data))
        assert isinstance(frame, MessageCancel)
        self.streams.cancel(frame)
        return frame.stream_id

    async def drop(self) -> None:
        """The connection is gone: cancel its streams (each settles its call), leave its rooms."""
        await self.streams.close()
        await self.rooms.close()
