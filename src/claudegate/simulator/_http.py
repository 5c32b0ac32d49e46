"""Plain ASGI plumbing for the simulator: one exchange per request, bodies, disconnects, real resets.

Request bodies are capped at ``MAX_BODY_BYTES`` (32 MB, the live API's limit for Messages): a
larger body is read to its end without being kept, then answered with 413 ``request_too_large``.
A body sent with ``Content-Encoding: gzip`` or ``deflate`` is decoded as it is read, the cap held
against the decoded size; another coding gets 415.
Pacing sleeps until absolute deadlines on the loop's clock and is woken early by the one task that
watches for a disconnect, so a paced stream neither drifts nor starts a task per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from claudegate._content_coding import (
    BodyDecoder,
    DecodedTooLarge,
    MalformedEncoding,
    UnsupportedEncoding,
    body_decoder,
)
from claudegate.errors import APIStatusError
from claudegate.simulator._errors import api_error
from claudegate.simulator._faults import ERROR_MESSAGES
from claudegate.simulator._json import dumps_lenient

__all__ = ["MAX_BODY_BYTES", "Exchange", "Receive", "Scope", "Send", "new_request_id"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON_TYPE = b"application/json"
SSE_TYPE = b"text/event-stream; charset=utf-8"
_LINGER_NOW = struct.pack("ii", 1, 0)
MAX_BODY_BYTES = 32 * 1024 * 1024


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
        self._sleeper: asyncio.Future[None] | None = None
        self.started = False
        self.sse = False
        """The answer under way is an event stream (set by ``start``)."""
        self.finished = False
        """The answer's last body chunk has been sent."""

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

    async def body(self, limit: int = MAX_BODY_BYTES) -> bytes:
        """The whole request body, decoded when it has a content coding; raises 413
        ``request_too_large`` past ``limit`` bytes (sent, or once decoded), 415 for a coding it
        cannot decode, 400 for a body that is not valid data of its coding.

        A refused body is still read to its end (and dropped), so the client, which is still
        sending, gets to read the answer instead of a broken connection.
        """
        refusal: APIStatusError | None = None
        try:
            decoder = body_decoder(self.headers.get(b"content-encoding"), limit)
        except UnsupportedEncoding as exc:
            decoder, refusal = None, api_error(415, "invalid_request_error", str(exc))
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._gone.set()
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit and refusal is None:
                refusal = api_error(413, "request_too_large", ERROR_MESSAGES["request_too_large"])
            if refusal is None:
                refusal = _decode(decoder, chunk, chunks)
            if refusal is not None:
                chunks.clear()
            if not message.get("more_body", False):
                break
        if refusal is None and decoder is not None:
            refusal = _decode(decoder, None, chunks)
        if refusal is not None:
            raise refusal
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
                _wake(self._sleeper)
                return

    @property
    def gone(self) -> bool:
        return self._gone.is_set()

    async def sleep_until(self, deadline: float) -> bool:
        """Sleep until ``deadline`` (on the running loop's clock) or the client leaves; True if it left."""
        if self._gone.is_set():
            return True
        loop = asyncio.get_running_loop()
        if deadline <= loop.time():
            return False
        self.watch()
        sleeper: asyncio.Future[None] = loop.create_future()
        timer = loop.call_at(deadline, _wake, sleeper)
        self._sleeper = sleeper
        try:
            await sleeper
        finally:
            timer.cancel()
            self._sleeper = None
        return self._gone.is_set()

    async def wait_gone(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the client to leave; True when it has."""
        return await self.sleep_until(asyncio.get_running_loop().time() + timeout)

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    # -- responses -------------------------------------------------------------------------------

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.started = True
        self.sse = any(
            name == b"content-type" and value.startswith(b"text/event-stream") for name, value in headers
        )
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, body: bytes, *, more: bool) -> None:
        self.finished = not more
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
        await self.respond(status, dumps_lenient(payload), headers or [], JSON_TYPE)

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


def _decode(decoder: BodyDecoder | None, chunk: bytes | None, into: list[bytes]) -> APIStatusError | None:
    """Append ``chunk`` decoded (None: the body's end) to ``into``; the answer when it cannot be."""
    try:
        if decoder is None:
            if chunk:
                into.append(chunk)
        else:
            into.append(decoder.feed(chunk) if chunk is not None else decoder.finish())
    except DecodedTooLarge:
        return api_error(413, "request_too_large", ERROR_MESSAGES["request_too_large"])
    except MalformedEncoding as exc:
        return api_error(400, "invalid_request_error", str(exc))
    return None


def _wake(sleeper: asyncio.Future[None] | None) -> None:
    if sleeper is not None and not sleeper.done():
        sleeper.set_result(None)
