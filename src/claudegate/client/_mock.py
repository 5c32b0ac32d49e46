"""A transport that answers from a function: for users' tests, no sockets needed.

>>> def handler(request: Request) -> MockResponse:
...     return MockResponse.json({"type": "message", ...})
>>> client = AsyncClient(api_key="sk-test-000000", transport=MockTransport(handler))
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import orjson
from multidict import CIMultiDict

from claudegate.client._transport import AsyncTransport, Request, Response
from claudegate.sse import encode_json_event

__all__ = ["MockResponse", "MockTransport"]


class MockResponse(Response):
    """A canned response: a whole body, or a list of chunks delivered one by one."""

    def __init__(
        self,
        status_code: int = 200,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes = b"",
        chunks: Iterable[bytes] | None = None,
    ) -> None:
        self.status_code = status_code
        self.headers = CIMultiDict(headers or {})
        self._chunks = list(chunks) if chunks is not None else [content]
        self.closed = False

    @classmethod
    def json(
        cls, body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> MockResponse:
        """A JSON response."""
        merged = {"content-type": "application/json", **(headers or {})}
        return cls(status_code, headers=merged, content=orjson.dumps(body))

    @classmethod
    def sse(
        cls, events: Iterable[Mapping[str, Any]], headers: Mapping[str, str] | None = None
    ) -> MockResponse:
        """An Anthropic SSE stream, one chunk per event."""
        merged = {"content-type": "text/event-stream; charset=utf-8", **(headers or {})}
        return cls(200, headers=merged, chunks=[encode_json_event(dict(event)) for event in events])

    async def aread(self) -> bytes:
        return b"".join(self._chunks)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            if chunk:
                yield chunk

    async def aclose(self) -> None:
        self.closed = True


Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport(AsyncTransport):
    """Calls ``handler(request)`` (sync or async) for every request and records the requests."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Request] = []

    async def handle(self, request: Request) -> Response:
        self.requests.append(request)
        result = self._handler(request)
        if inspect.isawaitable(result):
            return await result
        return result
