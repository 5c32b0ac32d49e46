"""The one place where client I/O happens: a transport turns a ``Request`` into a ``Response``.

``AiohttpTransport`` is the default: one pooled ``aiohttp`` session, opened lazily on the running
loop. ``MockTransport`` (in ``_mock.py``) answers from a function, for tests without sockets.
Transports raise only ``APIConnectionError`` / ``APITimeoutError``; statuses are the caller's job.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from claudegate.client._secrets import redact_headers
from claudegate.client._timeouts import Timeout
from claudegate.errors import APIConnectionError, APITimeoutError, UserError

__all__ = ["AiohttpTransport", "AsyncTransport", "Request", "Response"]


@dataclass(slots=True)
class Request:
    """An HTTP request as the client built it.

    ``headers`` hold the real key; the ``repr`` redacts it, and so does ``to_curl``.
    """

    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    content: bytes | None = field(default=None, repr=False)
    timeout: Timeout = field(default_factory=Timeout)
    stream: bool = False

    def __repr__(self) -> str:
        size = len(self.content) if self.content is not None else 0
        return (
            f"Request({self.method} {self.url}, headers={redact_headers(self.headers)!r}, "
            f"content={size} bytes, stream={self.stream})"
        )


class Response(ABC):
    """An HTTP response whose body may not have been read yet."""

    status_code: int
    headers: Mapping[str, str]
    attempts: int = 1
    """How many attempts it took to get this response (set by the client)."""

    @abstractmethod
    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body in chunks as they arrive; a read that goes silent past ``read`` times out."""

    @abstractmethod
    async def aread(self) -> bytes:
        """The whole body."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the connection (early close discards the rest of the body)."""

    @property
    def request_id(self) -> str | None:
        return self.headers.get("request-id") or self.headers.get("x-request-id")


class AsyncTransport(ABC):
    """Sends requests. Implement ``handle`` to plug in another HTTP stack."""

    @abstractmethod
    async def handle(self, request: Request) -> Response:
        """Send ``request`` and return once the response headers have arrived."""

    async def aclose(self) -> None:
        """Release pooled connections."""
        return None


class _AiohttpResponse(Response):
    __slots__ = ("_body", "_response", "_timeout", "attempts", "headers", "status_code")

    def __init__(self, response: aiohttp.ClientResponse, timeout: Timeout) -> None:
        self._response = response
        self._timeout = timeout
        self.status_code = response.status
        self.headers: CIMultiDictProxy[str] = response.headers
        self._body: bytes | None = None
        self.attempts = 1

    async def aread(self) -> bytes:
        if self._body is None:
            try:
                self._body = await self._response.read()
            except TimeoutError as exc:
                raise APITimeoutError("Timed out reading the response body.") from exc
            except aiohttp.ClientError as exc:
                raise APIConnectionError(f"Connection lost while reading the response: {exc}") from exc
            finally:
                self._response.release()
        return self._body

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self._body is not None:
            if self._body:
                yield self._body
            return
        content = self._response.content
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    break
                yield chunk
        except TimeoutError as exc:
            raise APITimeoutError(
                f"No data for {self._timeout.read} s while reading the stream (read timeout)."
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise APIConnectionError(f"The connection was cut mid-response: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise APIConnectionError(f"Connection lost while reading the stream: {exc}") from exc
        finally:
            self._response.release()

    async def aclose(self) -> None:
        if not self._response.closed:
            self._response.close()


class AiohttpTransport(AsyncTransport):
    """The default transport: one pooled aiohttp session per transport, per event loop.

    ``max_connections`` bounds the pool (per host and overall); ``keepalive`` how long an idle
    connection is kept.
    """

    def __init__(self, *, max_connections: int = 1000, keepalive: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and not self._session.closed and self._loop is not loop:
            raise UserError(
                "this client's connections belong to the event loop it was first used on; "
                "create one AsyncClient per event loop (or use the sync Client)",
                field="transport",
            )
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=self._max_connections,
                keepalive_timeout=self._keepalive,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                skip_auto_headers=("User-Agent", "Content-Type"),
                headers=CIMultiDict(),
            )
            self._loop = loop
        return self._session

    async def handle(self, request: Request) -> Response:
        session = self._get_session()
        timeout = request.timeout
        # ``connect`` bounds opening a socket only; waiting for a pooled connection is bounded by
        # ``total`` (aiohttp's own ``connect`` would also cover the pool wait).
        client_timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=timeout.connect, sock_read=timeout.read
        )
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout.total):
                response = await session.request(
                    request.method,
                    request.url,
                    data=request.content,
                    headers=request.headers,
                    timeout=client_timeout,
                    allow_redirects=False,
                )
                wrapped = _AiohttpResponse(response, timeout)
                if not request.stream:
                    # ``total`` bounds the whole of a non-streamed attempt, body included.
                    await wrapped.aread()
        except TimeoutError as exc:
            waited = time.monotonic() - started
            raise APITimeoutError(f"Request timed out after {waited:.2f} s.") from exc
        except aiohttp.ClientError as exc:
            raise APIConnectionError(f"Connection error: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise APIConnectionError(f"Connection error: {exc}") from exc
        return wrapped

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
