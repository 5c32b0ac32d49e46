"""Plain-ASGI plumbing shared by the HTTP surfaces: one request's context, reading the body once,
sending answers, and running the answer beside one disconnect watcher.

``Exchange.run(work)`` runs ``work`` (call the core, send the answer) in a child task while the
request's own task listens for the client: whichever ends first ends the other. A client that
leaves cancels the work (and so the upstream request) at once; the request's task itself is never
cancelled from outside. While a stream is open and idle, the same listener sends ``: keepalive``
comments every ``heartbeat`` seconds, only between whole SSE frames.

Request bodies sent with ``Content-Encoding: gzip`` or ``deflate`` are decoded as they are read,
the size limit held against the decoded bytes. Whole answers (``send_bytes``) of at least
``gzip_min_bytes`` go out gzipped to clients whose ``Accept-Encoding`` admits it; streams never are
(a compressor would hold events back until it had enough to emit).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, MutableMapping
from typing import Any, TypeVar

from claudegate._content_coding import (
    DecodedTooLarge,
    MalformedEncoding,
    UnsupportedEncoding,
    accepts_gzip,
    body_decoder,
    gzip_bytes,
)
from claudegate.gateway.core import Call, GatewayError, new_request_id, presented_key

__all__ = [
    "FORWARDED_HEADERS",
    "JSON_TYPE",
    "KEEPALIVE",
    "SSE_HEADERS",
    "BodyTooLarge",
    "Exchange",
    "LastChunk",
    "new_request_id",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
T = TypeVar("T")

JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
KEEPALIVE = b": keepalive\n\n"
FORWARDED_HEADERS = (
    b"anthropic-version",
    b"anthropic-beta",
    b"x-sim-fault",
    b"x-sim-latency",
    b"traceparent",
    b"tracestate",
)
DEFAULT_VERSION = "2023-06-01"


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""

    def __init__(self, limit: int, message: str | None = None) -> None:
        super().__init__(message or f"request body is larger than {limit} bytes")
        self.limit = limit


class LastChunk(bytes):
    """The final bytes of a stream: sent together with the end of the body (one write fewer)."""

    __slots__ = ()


class Exchange:
    """One HTTP request and its answer."""

    __slots__ = (
        "_at_boundary",
        "_last_sent",
        "_streaming",
        "call",
        "disconnected",
        "first_byte",
        "gzip_min_bytes",
        "headers",
        "method",
        "path",
        "query",
        "receive",
        "request_id",
        "response_started",
        "scope",
        "send",
        "started",
        "status",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        raw_query: bytes = scope.get("query_string", b"")
        self.query = raw_query.decode("latin-1")
        self.headers: dict[bytes, bytes] = dict(scope["headers"])
        self.request_id = new_request_id()
        self.started = time.perf_counter()
        self.response_started = False
        self.status: int | None = None
        """The status of the answer, once it began (what the access log and metrics record)."""
        self.disconnected = False
        self.call: Call | None = None
        """The model call this request made, once it made one (its outcome labels the metrics)."""
        self.gzip_min_bytes: int | None = None
        """Whole answers at least this large are gzipped for clients that accept it (None: never)."""
        self.first_byte: float | None = None
        """Seconds from the request to the first byte of the answer's body (once sent)."""
        self._streaming = False
        self._at_boundary = True
        self._last_sent = 0.0

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return value.decode("latin-1") if value is not None else None

    def credential(self) -> str | None:
        """The key the caller presented (``x-api-key`` or ``Authorization: Bearer``)."""
        return presented_key(self.headers)

    def forwarded_headers(self) -> dict[str, str]:
        """The client headers an upstream should see (``anthropic-version`` always set)."""
        headers = {}
        for name in FORWARDED_HEADERS:
            value = self.headers.get(name)
            if value is not None:
                headers[name.decode()] = value.decode("latin-1")
        headers.setdefault("anthropic-version", DEFAULT_VERSION)
        return headers

    async def body(self, limit: int) -> bytes:
        """The whole request body, decoded when it has a content coding; ``BodyTooLarge`` past
        ``limit`` bytes (sent, or once decoded), a 415 for a coding it cannot decode."""
        length = self.headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise BodyTooLarge(limit)
        try:
            decoder = body_decoder(self.headers.get(b"content-encoding"), limit)
        except UnsupportedEncoding as exc:
            raise GatewayError(415, "invalid_request_error", str(exc)) from None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(limit)
                if decoder is not None:
                    chunk = self._decoded(decoder.feed, chunk)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if decoder is not None:
            chunks.append(self._decoded(decoder.finish))
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    @staticmethod
    def _decoded(step: Callable[..., bytes], *data: bytes) -> bytes:
        try:
            return step(*data)
        except DecodedTooLarge as exc:
            raise BodyTooLarge(exc.limit, str(exc)) from None
        except MalformedEncoding as exc:
            raise GatewayError(400, "invalid_request_error", str(exc)) from None

    def _base_headers(self) -> list[tuple[bytes, bytes]]:
        request_id = self.request_id.encode()
        headers = [(b"request-id", request_id), (b"x-request-id", request_id)]
        latency = self.call.outcome.upstream_latency if self.call is not None else None
        if latency is not None:
            headers.append((b"x-upstream-latency", f"{latency * 1000:.2f}".encode()))
        return headers

    async def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: tuple[bytes, bytes] = JSON_TYPE,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers = self._base_headers()
        headers.append(content_type)
        threshold = self.gzip_min_bytes
        if threshold is not None and len(body) >= threshold:
            # The answer depends on Accept-Encoding from this size on, whichever way it goes.
            headers.append((b"vary", b"accept-encoding"))
            if accepts_gzip(self.headers.get(b"accept-encoding")):
                body = gzip_bytes(body)
                headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        if extra:
            headers.extend(extra)
        self.response_started = True
        self.status = status
        self.first_byte = time.perf_counter() - self.started
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def start_stream(self, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        headers = self._base_headers()
        headers.extend(SSE_HEADERS)
        if extra:
            headers.extend(extra)
        self.response_started = True
        self.status = 200
        self._streaming = True
        self._last_sent = time.monotonic()
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})

    async def send_chunks(self, chunks: AsyncIterator[bytes]) -> float | None:
        """Send ``chunks`` as the body of a started stream; the time to its first byte (seconds
        since the request began). A ``LastChunk`` ends the body with it."""
        first_byte: float | None = None
        send = self.send
        ended = False
        async for chunk in chunks:
            if not chunk or ended:
                continue
            if first_byte is None:
                first_byte = time.perf_counter() - self.started
            ended = isinstance(chunk, LastChunk)
            self._at_boundary = False  # no keep-alive while a write may be half done
            await send({"type": "http.response.body", "body": chunk, "more_body": not ended})
            self._at_boundary = not ended and chunk.endswith(b"\n\n")
            self._last_sent = time.monotonic()
        if not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        self._streaming = False
        self.first_byte = first_byte
        return first_byte if first_byte is not None else time.perf_counter() - self.started

    async def run(
        self,
        work: Coroutine[Any, Any, T],
        *,
        heartbeat: float,
        on_heartbeat: Callable[[], None] | None = None,
    ) -> T | None:
        """Run ``work`` while listening for the client; None when the client left first."""
        loop = asyncio.get_running_loop()
        worker = loop.create_task(work)
        receiving: asyncio.Future[Message] = asyncio.ensure_future(self.receive())
        try:
            while True:
                idle = time.monotonic() - self._last_sent if self._streaming else 0.0
                done, _ = await asyncio.wait(
                    (worker, receiving),
                    timeout=max(heartbeat - idle, 0.001),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if worker in done:
                    return worker.result()
                if receiving in done:
                    if receiving.result()["type"] == "http.disconnect":
                        self.disconnected = True
                        return None
                    receiving = asyncio.ensure_future(self.receive())
                elif self._streaming and self._at_boundary:
                    if time.monotonic() - self._last_sent >= heartbeat * 0.99:
                        self._last_sent = time.monotonic()
                        await self.send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                        if on_heartbeat is not None:
                            on_heartbeat()
        finally:
            receiving.cancel()
            if not worker.done():
                worker.cancel()
                # The work settles its call as it unwinds; wait for that, whatever happens here.
                await asyncio.wait((worker,))
            if worker.done() and not worker.cancelled():
                worker.exception()  # retrieved: a failure after the client left is not "never retrieved"
