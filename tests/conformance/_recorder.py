"""Record every HTTP exchange a real client has with an ASGI app: what it sent, what it got back.

The simulator's own request log keeps no headers, query strings or bodies; conformance tests need
all three, and they need them at the edge the client talks to (the simulator today, the gateway in
front of it later), so the recorder wraps whatever app the client is pointed at.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from claudegate.sse import validate_anthropic_sse

__all__ = ["ASGIApp", "Exchange", "RecordingApp"]

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Exchange:
    """One request and its answer, as the bytes crossed the socket (header names lower-cased)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    @property
    def target(self) -> str:
        """Method, path and query string, as a client would write the request line."""
        return f"{self.method} {self.path}" + (f"?{self.query}" if self.query else "")

    def json(self) -> Any:
        """The request body parsed as JSON."""
        return orjson.loads(self.body)

    def response_bytes(self) -> bytes:
        """The response body, un-gzipped when the server compressed it."""
        if self.response_headers.get("content-encoding") == "gzip":
            return gzip.decompress(self.response_body)
        return self.response_body

    def response_json(self) -> Any:
        """The response body parsed as JSON."""
        return orjson.loads(self.response_bytes())

    def final_message(self) -> dict[str, Any]:
        """The Anthropic message this exchange answered with, whether streamed (validated) or JSON."""
        if self.response_headers.get("content-type", "").startswith("text/event-stream"):
            return validate_anthropic_sse(self.response_bytes())
        message: dict[str, Any] = self.response_json()
        return message


class RecordingApp:
    """Wrap an ASGI app; every HTTP exchange through it is appended to ``exchanges`` as it happens."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    @property
    def exchanges(self) -> list[Exchange]:
        """A snapshot of the exchanges so far, oldest first."""
        with self._lock:
            return list(self._exchanges)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = Exchange(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=_header_dict(scope["headers"]),
        )
        with self._lock:
            self._exchanges.append(exchange)

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.body += message.get("body", b"")
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_headers = _header_dict(message.get("headers", []))
            elif message["type"] == "http.response.body":
                exchange.response_body += message.get("body", b"")
            await send(message)

        await self.app(scope, recording_receive, recording_send)


def _header_dict(raw: Any) -> dict[str, str]:
    # A repeated header keeps its values comma-joined, as HTTP allows for list-valued fields.
    headers: dict[str, str] = {}
    for name, value in raw:
        key = bytes(name).decode("latin-1").lower()
        text = bytes(value).decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers
