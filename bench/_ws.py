"""A lean WebSocket client for the benchmarks: a raw asyncio protocol (handshake, masked text frames
out, unmasked frames in), so that the figures measure the gateway, not a client library."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from typing import cast

__all__ = ["WebSocketConnection"]


def _frame(payload: bytes) -> bytes:
    """A masked, final text frame (clients must mask)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    repeat = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeat, "big")).to_bytes(size, "big")
    return head + mask + masked


class WebSocketConnection(asyncio.Protocol):
    """One connection: ``await open(port, path, headers)``, ``send(text)``, ``await receive()``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._upgraded = False
        self._handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._messages: asyncio.Queue[bytes] = asyncio.Queue()
        self.counted: Callable[[bytearray, int, int], bytes | None] | None = None
        """Picks the text messages counted in ``counts`` instead of being delivered: given the
        buffer and the message's span, the key to count it under, or None to deliver it (a load
        client's cheapest reading, as an SSE client counting frames)."""
        self.counts: dict[bytes, int] = {}

    @classmethod
    async def open(
        cls, port: int, path: str = "/v1/ws", headers: dict[str, str] | None = None
    ) -> WebSocketConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, "127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = (
            f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            f"sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n{extra}\r\n"
        )
        assert protocol.transport is not None
        protocol.transport.write(request.encode())
        await protocol._handshake
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._handshake.done():
            self._handshake.set_exception(ConnectionError("closed during the handshake"))
        self._messages.put_nowait(b"")

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self._buffer[: self._buffer.find(b"\r\n")])
            del self._buffer[: end + 4]
            if b" 101 " not in status:
                self._handshake.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self._upgraded = True
            self._handshake.set_result(None)
        self._frames()

    def _frames(self) -> None:
        # Frames are cut at an offset and the buffer trimmed once per read, not once per frame.
        buffer, offset, end = self._buffer, 0, len(self._buffer)
        deliver = self._messages.put_nowait
        while end - offset >= 2:
            opcode, size = buffer[offset] & 0x0F, buffer[offset + 1] & 0x7F
            start = offset + 2
            if size == 126:
                if end - offset < 4:
                    break
                size, start = struct.unpack_from("!H", buffer, offset + 2)[0], offset + 4
            elif size == 127:
                if end - offset < 10:
                    break
                size, start = struct.unpack_from("!Q", buffer, offset + 2)[0], offset + 10
            if end < start + size:
                break
            counted = self.counted
            key = counted(buffer, start, start + size) if opcode == 0x1 and counted is not None else None
            if key is not None:
                self.counts[key] = self.counts.get(key, 0) + 1
            elif opcode == 0x1:
                deliver(bytes(buffer[start : start + size]))
            elif opcode == 0x8:
                deliver(b"")
            # pings (0x9) are answered by nobody here: the runs are shorter than the ping interval
            offset = start + size
        if offset:
            del buffer[:offset]

    def send(self, text: bytes) -> None:
        assert self.transport is not None
        self.transport.write(_frame(text))

    async def receive(self) -> bytes:
        """The next text message (b"" once the connection closed)."""
        return await self._messages.get()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
