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

An event relayed as it arrives (a model's tokens, one upstream read each) costs the awaits of an
ASGI send more than its framing. The extension therefore also carries ``write``
(``text_writer(scope)``), a plain function that takes the texts when ``send`` would take them
without waiting — the handshake done, no close sent, the peer connected, and the transport not
paused by its flow control — and queues them exactly as ``send`` does; otherwise it takes nothing
and says so, and the caller sends them the ASGI way (which waits for the transport). A caller that
expects nothing else to be sent on the connection in this turn (its only stream) asks for the
frames to be written at once, with whatever is queued before them: one write, one turn sooner.
Whoever wraps ``send`` to see or change messages must drop the extension, as for any extension it
does not know.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any, cast

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

__all__ = ["SEND_TEXTS", "CoalescingWebSocketProtocol", "TextWriter", "text_frame", "text_writer"]

SEND_TEXTS = "claudegate.websocket.send_texts"
"""The ASGI message type (and scope extension) of several text messages sent at once."""

TextWriter = Callable[[list[str], bool], bool]
"""``write(texts, at_once)``: takes text messages to send now, in order, written at once or with the
turn's other frames; False when it took none (send them the ASGI way)."""

_SHORT_HEADS = [bytes((0x81, size)) for size in range(126)]
"""The two-byte header of each final, unmasked text frame of fewer than 126 bytes."""
_MEDIUM_HEAD = struct.Struct("!BBH").pack
_LONG_HEAD = struct.Struct("!BBQ").pack


def text_frame_head(size: int) -> bytes:
    """The header of one final, unmasked text frame (RFC 6455 §5.2) of ``size`` payload bytes."""
    if size < 126:
        return _SHORT_HEADS[size]
    if size < 1 << 16:
        return _MEDIUM_HEAD(0x81, 126, size)
    return _LONG_HEAD(0x81, 127, size)


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame carrying ``payload``."""
    return text_frame_head(len(payload)) + payload


def text_writer(scope: Mapping[str, Any]) -> TextWriter | None:
    """The connection's ``write`` of the ``SEND_TEXTS`` extension, when its server offers one."""
    extension = (scope.get("extensions") or {}).get(SEND_TEXTS)
    write = extension.get("write") if isinstance(extension, dict) else None
    return cast("TextWriter", write) if callable(write) else None


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, writing each turn's text frames in one write."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[bytes] = []
        self._write_paused = False  # as ``writable`` (an Event) says, read without a call

    def pause_writing(self) -> None:
        self._write_paused = True
        super().pause_writing()

    def resume_writing(self) -> None:
        self._write_paused = False
        super().resume_writing()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:  # the scope exists only for an accepted handshake
            self.scope["extensions"][SEND_TEXTS] = {"write": self.write_texts}

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

    def write_texts(self, texts: list[str], at_once: bool = False) -> bool:
        """Queue ``texts`` as ``send`` would, if it would not wait (see the module docstring);
        ``at_once``: write them now, after whatever is queued, rather than at the turn's end."""
        # _frames_here() and text_frame() inline: this runs once per event a model sends.
        if (
            self._write_paused
            or self.disconnected
            or not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
            or self.conn.extensions
        ):
            return False
        pending = self._pending
        scheduled = bool(pending)
        for text in texts:
            payload = text.encode()
            size = len(payload)
            pending.append(_MEDIUM_HEAD(0x81, 126, size) if 125 < size < 65536 else text_frame_head(size))
            pending.append(payload)  # joined with the others once, not concatenated here
        if at_once:
            self._flush()  # a flush already scheduled finds nothing left
        elif not scheduled:
            self.loop.call_soon(self._flush)
        return True

    async def _queue(self, frames: list[bytes]) -> None:
        await self.writable.wait()  # the transport's flow control, as uvicorn's own send does
        if self.disconnected:
            raise ClientDisconnected()
        self._pend(frames)

    def _pend(self, frames: list[bytes]) -> None:
        """Add ``frames`` to this turn's write."""
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
