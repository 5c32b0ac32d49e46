"""Plain-ASGI plumbing: one request's context, reading the body, sending answers."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["JSON_TYPE", "SSE_HEADERS", "BodyTooLarge", "Exchange", "new_request_id"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def new_request_id() -> str:
    """A fresh ``req_…`` id (24 random hex digits)."""
    return "req_" + os.urandom(12).hex()


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class Exchange:
    """One HTTP request and its answer."""

    __slots__ = (
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
        "upstream_latency",
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
        self.upstream_latency: float | None = None
        self.response_started = False

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return value.decode("latin-1") if value is not None else None

    async def body(self, limit: int) -> bytes:
        """The whole request body; ``BodyTooLarge`` past ``limit`` bytes."""
        length = self.headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise BodyTooLarge(limit)
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
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _base_headers(self) -> list[tuple[bytes, bytes]]:
        request_id = self.request_id.encode()
        headers = [(b"request-id", request_id), (b"x-request-id", request_id)]
        if self.upstream_latency is not None:
            headers.append((b"x-upstream-latency", f"{self.upstream_latency * 1000:.2f}".encode()))
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
        headers.append((b"content-length", str(len(body)).encode()))
        if extra:
            headers.extend(extra)
        self.response_started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def start_stream(self, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        headers = self._base_headers()
        headers.extend(SSE_HEADERS)
        if extra:
            headers.extend(extra)
        self.response_started = True
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})
