"""The WebSocket server protocol: uvicorn's sans-I/O one, with the text frames of one turn of the
event loop written together.

A stream relayed over ``/v1/ws`` sends one message per event, so an upstream read of twenty events
is twenty ASGI sends. uvicorn writes each to the socket at once — twenty system calls, each running
the loopback or NIC path — where SSE makes one write of the same bytes. Here each frame is built
(a server's frames are unmasked: a two-to-ten-byte header) and queued, and the queue is written
once the current turn of the loop is over: the same frames, in the same order, in one write. Any
other message (close, binary, or a connection that negotiated compression) first writes what is
queued, then takes uvicorn's own path.

A stream's events of one upstream read can also be handed over in one ASGI message,
``{"type": "claudegate.websocket.send_texts", "texts": [...]}``, offered to the application as the
scope extension of that name: one await for the lot instead of one per frame. Each text is still its
own WebSocket message on the wire.
"""

from __future__ import annotations

import struct
from typing import Any, cast

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

__all__ = ["SEND_TEXTS", "CoalescingWebSocketProtocol", "text_frame"]

SEND_TEXTS = "claudegate.websocket.send_texts"
"""The ASGI message type (and scope extension) of several text messages sent at once."""


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame (RFC 6455 §5.2) carrying ``payload``."""
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, writing each turn's text frames in one write."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[bytes] = []

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:  # the scope exists only for an accepted handshake
            self.scope["extensions"][SEND_TEXTS] = {}

    def _frames_here(self) -> bool:
        """Whether text messages are framed here (else uvicorn frames them: compression, closing)."""
        return (
            self.handshake_complete
            and not self.close_sent
            and self.initial_response is None
            and not self.conn.extensions
        )

    async def send(self, message: ASGISendEvent) -> None:
        kind = message["type"]
        if kind == SEND_TEXTS:
            texts: list[str] = cast("dict[str, Any]", message)["texts"]
            if not self._frames_here():
                for each in texts:
                    await self.send({"type": "websocket.send", "text": each, "bytes": None})
                return
            await self._queue([text_frame(each.encode()) for each in texts])
            return
        text = message.get("text") if kind == "websocket.send" else None
        if not isinstance(text, str) or not self._frames_here():
            self._flush()
            await super().send(message)
            return
        await self._queue([text_frame(text.encode())])

    async def _queue(self, frames: list[bytes]) -> None:
        await self.writable.wait()  # the transport's flow control, as uvicorn's own send does
        if self.disconnected:
            raise ClientDisconnected()
        pending = self._pending
        if not pending:
            self.loop.call_soon(self._flush)
        pending.extend(frames)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._pending.clear()
        super().connection_lost(exc)
