"""Plain ASGI plumbing for the simulator: one exchange per request, bodies, disconnects, real resets."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

__all__ = ["Exchange", "Receive", "Scope", "Send", "new_request_id"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON_TYPE = b"application/json"
SSE_TYPE = b"text/event-stream; charset=utf-8"
_LINGER_NOW = struct.pack("ii", 1, 0)


def new_request_id() -> str:
    """A fresh ``request-id`` in the live API's style."""
    return "req_01" + secrets.token_hex(11)


class Exchange:
    """One HTTP request and its response: headers, body, and the connection under it."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: dict[bytes, bytes] = dict(scope["headers"])
        self.request_id = request_id
        self._receive = receive
        self._send = send
        self._gone = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self.started = False

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return value.decode("latin-1") if value is not None else None

    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1")))

    @property
    def base_url(self) -> str:
        host = self.header(b"host")
        if host is None:
            server = self.scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{self.scope.get('scheme', 'http')}://{host}"

    async def body(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._gone.set()
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    # -- disconnects -----------------------------------------------------------------------------

    def watch(self) -> None:
        """Start noticing a client disconnect (call once the body has been read)."""
        if self._watcher is None and not self._gone.is_set():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._gone.set()
                return

    @property
    def gone(self) -> bool:
        return self._gone.is_set()

    async def wait_gone(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the client to leave; True when it has."""
        if self._gone.is_set():
            return True
        if timeout <= 0:
            return False
        self.watch()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._gone.wait(), timeout)
        return self._gone.is_set()

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    # -- responses -------------------------------------------------------------------------------

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, body: bytes, *, more: bool) -> None:
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    async def respond(
        self, status: int, body: bytes, headers: list[tuple[bytes, bytes]], content_type: bytes
    ) -> None:
        await self.start(
            status,
            [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"request-id", self.request_id.encode()),
                *headers,
            ],
        )
        await self.write(body, more=False)

    async def respond_json(
        self, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        await self.respond(status, orjson.dumps(payload), headers or [], JSON_TYPE)

    async def reset(self) -> None:
        """Reset the TCP connection (RST, not a clean close), so the client sees a connection error."""
        owner = getattr(self._send, "__self__", None)
        transport: Any = getattr(owner, "transport", None)
        if not (
            callable(getattr(transport, "abort", None))
            and callable(getattr(transport, "get_extra_info", None))
        ):
            # Not served by uvicorn: failing the app makes the server drop the connection.
            raise ConnectionResetError("simulated connection reset")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NOW)
        transport.abort()
        # Let the server see the lost connection, so it does not try to finish the response itself.
        await self.wait_gone(1.0)
