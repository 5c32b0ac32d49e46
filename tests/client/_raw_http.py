"""A scripted raw HTTP/1.1 server on loopback for transport tests: exact bytes, counted connections."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType


@dataclass
class RawRequest:
    """One request as the server read it."""

    method: str
    target: str
    head: bytes
    headers: list[tuple[str, str]]
    body: bytes
    connection: int  # which accepted connection (0-based) carried it
    number: int  # its position on that connection (0-based)

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None


Handler = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[bool]]
"""Answers one request by writing raw bytes; returns whether to keep the connection for another."""


def response(
    body: bytes = b"",
    status: str = "200 OK",
    headers: list[tuple[str, str]] | None = None,
    version: str = "1.1",
) -> bytes:
    """A response with a content-length (unless ``headers`` already frame it)."""
    lines = [f"HTTP/{version} {status}"]
    given = headers or []
    lines += [f"{name}: {value}" for name, value in given]
    if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in given):
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


def chunk(piece: bytes) -> bytes:
    """One piece in chunked transfer coding."""
    return f"{len(piece):x}\r\n".encode() + piece + b"\r\n"


def chunked(*pieces: bytes) -> bytes:
    """``pieces`` in chunked transfer coding, with the last (zero-size) chunk."""
    return b"".join(chunk(p) for p in pieces) + LAST_CHUNK


async def answer_ok(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    """Echo the request target as a small body and keep the connection."""
    writer.write(response(request.target.encode(), headers=[("content-type", "text/plain")]))
    return True


async def answer_then_close(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    """Answer like ``answer_ok``, then close the connection."""
    await answer_ok(request, writer)
    return False


@dataclass
class RawServer:
    """Serve ``handler`` on ``host`` and a free port; count connections and keep every request."""

    handler: Handler = answer_ok
    host: str = "127.0.0.1"
    ssl_context: ssl.SSLContext | None = None
    requests: list[RawRequest] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    max_open: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def url(self, path: str = "/", host: str | None = None) -> str:
        scheme = "https" if self.ssl_context else "http"
        name = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{scheme}://{name}:{self.port}{path}"

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 2.0) -> None:
        """Poll ``condition`` (the server runs on the test's loop) until true or fail."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not met in time"
            await asyncio.sleep(0.005)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        connection = self.connections
        self.connections += 1
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        try:
            number = 0
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                request_line, *lines = head.decode().split("\r\n")[:-2]
                method, target, _ = request_line.split(" ")
                headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines)]
                request = RawRequest(method, target, head, headers, b"", connection, number)
                request.body = await reader.readexactly(int(request.header("content-length") or 0))
                self.requests.append(request)
                number += 1
                keep = await self.handler(request, writer)
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the test is over (cancelled by __aexit__)
        finally:
            self.open_now -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.CancelledError):
                await writer.wait_closed()
            self._writers.discard(writer)
            self._tasks.discard(task)

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
