"""A raw WebSocket client for tests that look at the bytes on the wire: the handshake (no extension
offered, so no compression), masked text frames out, and every byte the server sends after the
handshake kept as it came, its frames parsed into messages."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from typing import Any

import orjson
from websockets.frames import Frame, Opcode

from tests.gateway._ws import WAIT


class RawWebSocket:
    """One connection: ``send`` a message, read the next ``message``; ``raw`` holds every byte the
    server sent after its handshake (read so far), ``opcodes`` each frame's opcode."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.raw = bytearray()
        self.opcodes: list[int] = []
        self._parsed = 0

    @classmethod
    async def open(cls, base_url: str, path: str = "/v1/ws") -> RawWebSocket:
        host, port = base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            f"sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 101 "), head
        return cls(reader, writer)

    async def send(self, message: dict[str, Any]) -> None:
        self._writer.write(Frame(Opcode.TEXT, orjson.dumps(message)).serialize(mask=True))  # clients mask
        await self._writer.drain()

    async def _frame(self) -> tuple[int, bytes]:
        """The next frame the server sent: (opcode, payload)."""
        while True:
            frame = self._cut()
            if frame is not None:
                return frame
            data = await asyncio.wait_for(self._reader.read(65536), WAIT)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.raw += data

    def _cut(self) -> tuple[int, bytes] | None:
        raw, at = self.raw, self._parsed
        if len(raw) - at < 2:
            return None
        assert raw[at] & 0x80 and not raw[at + 1] & 0x80, "server frames are final and unmasked"
        size, start = raw[at + 1] & 0x7F, at + 2
        if size == 126:
            if len(raw) - at < 4:
                return None
            size, start = struct.unpack_from("!H", raw, at + 2)[0], at + 4
        elif size == 127:
            if len(raw) - at < 10:
                return None
            size, start = struct.unpack_from("!Q", raw, at + 2)[0], at + 10
        if len(raw) < start + size:
            return None
        self._parsed = start + size
        opcode = raw[at] & 0x0F
        self.opcodes.append(opcode)
        return opcode, bytes(raw[start : start + size])

    async def message(self) -> dict[str, Any]:
        """The next text message, decoded."""
        opcode, payload = await self._frame()
        assert opcode == 0x1, (opcode, payload)
        message: dict[str, Any] = orjson.loads(payload)
        return message

    async def until(self, stream_id: str, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
        """The messages read up to and with the first of ``stream_id`` ("": none) whose type is in
        ``kinds``."""
        messages = []
        while True:
            message = await self.message()
            messages.append(message)
            if message.get("stream_id", "") == stream_id and message["type"] in kinds:
                return messages

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass  # the server may have closed first
