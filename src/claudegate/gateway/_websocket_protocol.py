"""The WebSocket server protocol: uvicorn's sans-I/O one, with the text frames of one turn of the
event loop written together.

A stream relayed over ``/v1/ws`` sends one message per event, so an upstream read of twenty events
is twenty ASGI sends. uvicorn writes each to the socket at once — twenty system calls, each running
the loopback or NIC path — where SSE makes one write of the same bytes. Here each frame is built
(a server's frames are unmasked: a two-to-ten-byte header) and queued, and the queue is written
once the current turn of the loop is over: the same frames, in the same order, in one write. Any
other message (close, binary, or a connection that negotiated compression) first writes what is
queued, then takes uvicorn's own path.
"""

from __future__ import annotations

import struct
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["CoalescingWebSocketProtocol", "text_frame"]


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

    def _plain_text(self, message: ASGISendEvent) -> bytes | None:
        """The text of a message this class frames itself, else None."""
        if message["type"] != "websocket.send" or not self.handshake_complete or self.close_sent:
            return None
        if self.initial_response is not None or self.conn.extensions:  # compression: uvicorn's path
            return None
        text = message.get("text")
        return text.encode() if isinstance(text, str) else None

    async def send(self, message: ASGISendEvent) -> None:
        payload = self._plain_text(message)
        if payload is None:
            self._flush()
            await super().send(message)
            return
        await self.writable.wait()  # the transport's flow control, as uvicorn's own send does
        if self.disconnected:
            raise ClientDisconnected()
        self._pending.append(text_frame(payload))
        if len(self._pending) == 1:
            self.loop.call_soon(self._flush)

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
