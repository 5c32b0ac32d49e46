"""One keep-alive HTTP/1.1 connection of ``HttpToolsTransport`` and the response it is reading."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import httptools

from claudegate.client._http1 import HIGH_WATER, SLACK, Headers
from claudegate.client._transport import Request, Response
from claudegate.errors import APIConnectionError, APITimeoutError

if TYPE_CHECKING:
    from claudegate.client._httptools import Pool

__all__ = ["Connection", "HttpToolsResponse"]


class HttpToolsResponse(Response):
    """One response; its connection fills it from the parser callbacks."""

    headers: Headers
    __slots__ = (
        "attempts", "body", "buffered", "chunks", "closed", "complete", "conn", "deadline", "decoder",
        "error", "head_only", "headers", "headers_done", "read_all", "stale", "status_code", "total",
        "until_close", "waiter", "wake_each",
    )  # fmt: skip

    def __init__(self, conn: Connection, request: Request, deadline: float | None) -> None:
        self.status_code = 0
        self.headers = Headers()
        self.attempts = 1
        self.conn: Connection | None = conn  # None once complete, failed or dropped
        self.read_all = not request.stream  # reading the whole body: never pause, wake at the end
        self.head_only = request.method == "HEAD"
        self.deadline = deadline  # ``total``: until complete, or for a stream until its headers
        self.total = request.timeout.total
        self.headers_done = self.complete = self.until_close = self.closed = self.stale = False
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.decoder: zlib._Decompress | None = None
        self.error: APIConnectionError | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.wake_each = False
        self.body: bytes | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, each_chunk: bool) -> None:
        """Until the next chunk (``each_chunk``), or until the response completes or fails."""
        if self.conn is not None:
            self.wake_each = each_chunk
            self.waiter = waiter = self.conn.loop.create_future()
            await waiter

    def drop(self) -> None:
        """Give up on the rest of the body: its connection cannot carry another request."""
        self.closed = True
        conn, self.conn = self.conn, None
        if conn is not None and conn.response is self:
            conn.response = None
            conn.abort()
        self.wake()

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self.body is not None:
            if self.body:
                yield self.body
            return
        try:
            while True:
                if self.chunks:
                    chunks, self.chunks, self.buffered = self.chunks, [], 0
                    if self.conn is not None and self.conn.paused:
                        self.conn.resume()
                    yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
                elif self.error is not None:
                    raise self.error
                elif self.complete or self.closed:
                    return
                else:
                    await self.wait(each_chunk=True)
        finally:
            if not self.complete:
                self.drop()

    async def aread(self) -> bytes:
        if self.body is None:
            self.read_all = True
            if self.conn is not None and self.conn.paused:
                self.conn.resume()
            while not self.complete:
                if self.error is not None:
                    raise self.error
                if self.closed:
                    raise APIConnectionError("The response was closed before its body was read.")
                await self.wait(each_chunk=False)
            chunks, self.chunks = self.chunks, []
            self.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self.body

    async def aclose(self) -> None:
        if not self.complete:
            self.drop()
        self.closed = True


class Connection(asyncio.Protocol):
    """One socket: sends requests and parses their responses."""

    __slots__ = (
        "has_slot", "idle_since", "informational", "last_data", "loop", "lost", "parser", "paused",
        "pool", "read", "received", "response", "reused", "timer", "transport",
    )  # fmt: skip

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.response: HttpToolsResponse | None = None
        self.has_slot = True  # counts against the pool's limit until closed
        self.reused = self.paused = self.received = self.informational = False
        self.lost: asyncio.Future[None] | None = None  # set while the transport shuts down
        self.idle_since = self.last_data = 0.0
        self.read: float | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.pool.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.last_data = self.loop.time()
        response = self.response
        if response is None:  # bytes nobody asked for: this socket is out of step, never reuse it
            self.abort()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(APIConnectionError("The server switched protocols; only HTTP/1.1 is supported."))
        except httptools.HttpParserError as exc:
            self.fail(APIConnectionError(f"The server sent a malformed HTTP response: {exc}"))
        if response.head_only and response.headers_done and self.response is response:
            # llhttp cannot be told that a HEAD response has no body: finish it here.
            keep_alive = self.parser.should_keep_alive()
            self.parser = httptools.HttpResponseParser(self)
            self.finish(response, keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.pool.forget(self)
        self.drop_slot()
        response = self.response
        if response is not None and exc is None and response.until_close and response.headers_done:
            self.finish(response, keep_alive=False)
        elif response is not None and response.headers_done:
            self.fail(APIConnectionError("The connection was cut mid-response."))
        elif response is not None:
            detail = f": {exc}" if exc else ""
            self.fail(
                APIConnectionError(f"The server closed the connection without answering{detail}."), True
            )
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)

    def on_message_begin(self) -> None:
        if self.response is None:  # a second answer to one request: the socket is out of step
            raise httptools.HttpParserError("unexpected bytes after the response")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.response is not None:
            headers = self.response.headers
            key = name.lower().decode("latin-1")
            text = value.decode("utf-8", "surrogateescape")
            previous = dict.get(headers, key)
            headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        response = self.response
        if response is None:
            return
        status = self.parser.get_status_code()
        if status < 200 and status != 101:  # a 1xx interim answer: the real one follows
            self.informational = True
            response.headers.clear()
            return
        response.status_code = status
        response.headers_done = True
        headers = response.headers
        if dict.get(headers, "content-encoding", "") in ("gzip", "x-gzip", "deflate"):
            response.decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # | 32: a gzip or zlib header
        response.until_close = not (
            response.head_only
            or status in (204, 304)
            or "content-length" in headers
            or "chunked" in dict.get(headers, "transfer-encoding", "")
        )
        if not response.read_all:
            response.deadline = None  # ``total`` never cuts a stream that has started
            response.wake()

    def on_body(self, body: bytes) -> None:
        response = self.response
        if response is not None:
            if response.decoder is not None:
                body = response.decoder.decompress(body)  # a zlib.error surfaces as HttpParserError
                if not body:
                    return
            response.chunks.append(body)
            response.buffered += len(body)
            if response.wake_each:
                response.wake()
            if response.buffered > HIGH_WATER and not response.read_all and not self.paused:
                self.pause()

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
        elif self.response is not None:
            keep_alive = self.parser.should_keep_alive() and not self.response.until_close
            self.finish(self.response, keep_alive)

    def send(self, data: bytes, response: HttpToolsResponse, read: float | None, now: float) -> None:
        self.response = response
        self.received = False
        if self.transport is None or self.transport.is_closing():
            self.fail(APIConnectionError("The server closed the connection."), stale=True)
            return
        self.transport.write(data)
        self.read = read
        self.last_data = now
        due = response.deadline
        if read is not None and (due is None or now + read < due):
            due = now + read
        if due is not None:
            self.schedule(due)

    def schedule(self, due: float) -> None:
        timer = self.timer
        if timer is None or timer.when() > due:  # a later timer re-arms itself when it fires
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(due, self.on_timer)

    def on_timer(self) -> None:
        self.timer = None
        response = self.response
        if response is None:
            return
        now = self.loop.time() + SLACK
        due = response.deadline
        if due is not None and now >= due:
            self.fail(APITimeoutError(f"Request timed out after {response.total:g} s (total timeout)."))
            return
        if self.read is not None and not self.paused:
            silent_until = self.last_data + self.read
            if now >= silent_until:
                message = f"No data for {self.read:g} s while reading the response (read timeout)."
                self.fail(APITimeoutError(message))
                return
            due = silent_until if due is None else min(due, silent_until)
        if due is not None:
            self.timer = self.loop.call_at(due, self.on_timer)

    def pause(self) -> None:
        if self.transport is not None:
            self.paused = True  # the read timeout waits too: the silence is the reader's
            self.transport.pause_reading()

    def resume(self) -> None:
        self.paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
            self.last_data = self.loop.time()
            if self.read is not None:
                self.schedule(self.last_data + self.read)

    def finish(self, response: HttpToolsResponse, keep_alive: bool) -> None:
        self.response = None
        response.conn = None
        tail = response.decoder.flush() if response.decoder is not None else b""
        if tail:
            response.chunks.append(tail)
        response.complete = True
        response.wake()
        if keep_alive and self.transport is not None and not self.transport.is_closing():
            self.pool.release(self)
        else:
            self.close()

    def fail(self, error: APIConnectionError, stale: bool = False) -> None:
        response = self.response
        if response is not None:
            self.response = None
            response.conn = None
            response.error = error
            response.stale = stale  # failed before any byte: the server had closed the connection
            response.wake()
        self.abort()

    def drop_slot(self) -> None:
        if self.has_slot:
            self.has_slot = False
            self.pool.free_slot()

    def close(self) -> None:
        """Close politely (TLS close-notify); the slot is free at once, the socket a turn later."""
        self.pool.forget_idle(self)
        if self.transport is not None:
            self.transport.close()
        self.drop_slot()

    def abort(self) -> None:
        self.pool.forget_idle(self)
        if self.transport is not None:
            self.transport.abort()
        self.drop_slot()
