"""A lean HTTP/1.1 transport on asyncio protocols and ``httptools``, for the gateway's hot path.

``AiohttpTransport`` spends ~200 µs of CPU per request, most of what a pass-through gateway may
spend. ``HttpToolsTransport`` does the same job for a fraction of that: one asyncio ``Protocol``
per socket whose bytes ``httptools`` (llhttp) parses in callbacks, a last-in-first-out keep-alive
pool per origin, one future per request, and per connection one timer that enforces both the
``read`` and the ``total`` timeout by re-arming itself from the time of the last received byte,
so a request on a warm connection usually schedules no timer at all.

It speaks what the client needs and no more: HTTP/1.1 over TCP or TLS; no proxies, redirects,
cookies or HTTP/2. Bodies compressed with gzip or deflate are decoded, as aiohttp does.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator
from typing import NamedTuple, TypeVar, cast, overload
from urllib.parse import urlsplit

import httptools

from claudegate.client._transport import AsyncTransport, Request, Response
from claudegate.errors import APIConnectionError, APITimeoutError, UserError

__all__ = ["HttpToolsTransport"]

_HIGH_WATER = 256 * 1024  # unread stream bytes past which the socket is not read (a slow reader)
_MAX_CACHED_URLS = 1024
_SLACK = 0.001  # timers may fire this early (clock resolution) and still count as due
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
_OUR_HEADERS = _FRAMING_HEADERS | {"host"}
_T = TypeVar("_T")


class _Target(NamedTuple):
    origin: tuple[str, str, int]  # scheme, host, port: the pool key
    host_header: str
    path: str  # the request target: path and query


def _parse_url(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as exc:
        raise UserError(f"invalid URL: {exc}", field="url") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise UserError("the URL must be absolute and start with http:// or https://", field="url")
    if parts.username is not None:
        raise UserError("credentials in the URL are not supported; send them in a header", field="url")
    path = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
    if " " in path or not path.isprintable():
        raise UserError("the URL must not contain spaces or control characters", field="url")
    default = 443 if scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host
    return _Target(
        (scheme, host, port or default), name if port in (None, default) else f"{name}:{port}", path
    )


def _encode_request(request: Request, target: _Target) -> bytes:
    """Head and body as one buffer, so the request leaves in one write."""
    headers = request.headers
    lines = [f"{request.method} {target.path} HTTP/1.1\r\n"]
    if _OUR_HEADERS.isdisjoint(map(str.lower, headers)):
        lines.append(f"host: {target.host_header}\r\n")
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
    else:  # the framing is ours (it must match the bytes sent); a given host is kept
        if all(name.lower() != "host" for name in headers):
            lines.append(f"host: {target.host_header}\r\n")
        lines += [f"{n}: {v}\r\n" for n, v in headers.items() if n.lower() not in _FRAMING_HEADERS]
    body = request.content
    if body is not None or request.method in _BODY_METHODS:
        lines.append(f"content-length: {len(body) if body else 0}\r\n")
    lines.append("\r\n")
    head = "".join(lines)
    # Every line added ends in exactly one CRLF; any other line break came from a header.
    if head.count("\n") != len(lines) or head.count("\r") != len(lines):
        raise UserError("header names and values must not contain line breaks", field="headers")
    return head.encode() + body if body else head.encode()


class _Headers(dict[str, str]):
    """Response headers: lower-case keys, found by a name in any case; repeated headers joined."""

    __slots__ = ()

    def __missing__(self, key: str) -> str:
        if key.islower():
            raise KeyError(key)
        return self[key.lower()]

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (isinstance(key, str) and dict.__contains__(self, key.lower()))

    @overload
    def get(self, key: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: _T, /) -> str | _T: ...
    def get(self, key: str, default: object = None, /) -> object:
        value = dict.get(self, key)
        return dict.get(self, key.lower(), default) if value is None else value


class _HttpToolsResponse(Response):
    """One response; its connection fills it from the parser callbacks."""

    headers: _Headers
    __slots__ = (
        "attempts", "body", "buffered", "chunks", "closed", "complete", "conn", "deadline", "decoder",
        "error", "head_only", "headers", "headers_done", "read_all", "stale", "status_code", "total",
        "until_close", "waiter", "wake_each",
    )  # fmt: skip

    def __init__(self, conn: _Connection, request: Request, deadline: float | None) -> None:
        self.status_code = 0
        self.headers = _Headers()
        self.attempts = 1
        self.conn: _Connection | None = conn  # None once complete, failed or dropped
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


class _Connection(asyncio.Protocol):
    """One socket: sends requests and parses their responses."""

    __slots__ = (
        "has_slot", "idle_since", "informational", "last_data", "loop", "lost", "parser", "paused",
        "pool", "read", "received", "response", "reused", "timer", "transport",
    )  # fmt: skip

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.response: _HttpToolsResponse | None = None
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
            if response.buffered > _HIGH_WATER and not response.read_all and not self.paused:
                self.pause()

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
        elif self.response is not None:
            keep_alive = self.parser.should_keep_alive() and not self.response.until_close
            self.finish(self.response, keep_alive)

    def send(self, data: bytes, response: _HttpToolsResponse, read: float | None, now: float) -> None:
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
        now = self.loop.time() + _SLACK
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

    def finish(self, response: _HttpToolsResponse, keep_alive: bool) -> None:
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


class _Pool:
    """Connections to one origin: idle ones reused last-in-first-out, at most ``limit`` open."""

    def __init__(self, owner: HttpToolsTransport, origin: tuple[str, str, int]) -> None:
        self.owner = owner
        self.loop = cast(asyncio.AbstractEventLoop, owner._loop)
        self.origin = origin
        self.limit = owner.max_connections
        self.keepalive = owner.keepalive
        self.open = 0  # connections open or opening: what ``limit`` bounds
        self.idle: deque[_Connection] = deque()
        self.connections: set[_Connection] = set()
        self.waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self.sweeper: asyncio.TimerHandle | None = None
        self.closed = False

    def take(self) -> _Connection | None:
        """The most recently used idle connection that has not expired."""
        while self.idle:
            conn = self.idle.pop()
            if self.loop.time() - conn.idle_since < self.keepalive:
                return conn
            conn.close()
        return None

    async def acquire(self, connect: float | None, fresh: bool, deadline: float | None) -> _Connection:
        """A new connection, or the next one freed; a wait is bounded by ``deadline`` only."""
        while True:
            if self.closed:
                raise APIConnectionError("The transport was closed.")
            conn = None if fresh else self.take()
            if conn is not None:
                return conn
            if self.open < self.limit:
                self.open += 1
                return await self.owner._open_connection(self, connect, deadline)
            if fresh and self.idle:
                self.idle.popleft().close()  # frees a slot for the fresh connection
                continue
            waiter: asyncio.Future[_Connection | None] = self.loop.create_future()
            self.waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    granted = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():  # handed over just as we gave up
                    self.give_back(waiter.result())
                raise
            if granted is None:  # a slot, already counted for us
                return await self.owner._open_connection(self, connect, deadline)
            if granted.transport is not None and not granted.transport.is_closing():
                return granted

    def give_back(self, conn: _Connection | None) -> None:
        if conn is None:
            self.free_slot()
        else:
            self.release(conn)

    def release(self, conn: _Connection) -> None:
        conn.reused = True
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if self.closed or self.keepalive <= 0:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        self.idle.append(conn)
        if self.sweeper is None:
            self.sweeper = self.loop.call_at(conn.idle_since + self.keepalive, self.sweep)

    def free_slot(self) -> None:
        self.open -= 1
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.open += 1
                waiter.set_result(None)
                return

    def sweep(self) -> None:
        """Close the connections idle for ``keepalive`` seconds; come back for the next to expire."""
        self.sweeper = None
        expired = self.loop.time() - self.keepalive + _SLACK
        while self.idle and self.idle[0].idle_since <= expired:
            self.idle.popleft().close()
        if self.idle:
            self.sweeper = self.loop.call_at(self.idle[0].idle_since + self.keepalive, self.sweep)

    def forget_idle(self, conn: _Connection) -> None:
        if self.idle and conn in self.idle:
            self.idle.remove(conn)

    def forget(self, conn: _Connection) -> None:
        self.forget_idle(conn)
        self.connections.discard(conn)

    def shut(self) -> list[_Connection]:
        """Refuse new work, wake the waiters and return every open connection."""
        self.closed = True
        if self.sweeper is not None:
            self.sweeper.cancel()
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(APIConnectionError("The transport was closed."))
        self.waiters.clear()
        return list(self.connections)


class HttpToolsTransport(AsyncTransport):
    """An HTTP/1.1 transport on asyncio protocols and ``httptools``: a fraction of aiohttp's CPU.

    ``max_connections`` bounds the open connections per origin (scheme, host, port); requests
    beyond it wait for one, bounded by their ``total`` timeout. Idle connections close after
    ``keepalive`` seconds. ``https://`` uses ``ssl_context`` (default: the system's trust store).

    >>> client = AsyncClient(transport=HttpToolsTransport(max_connections=100))
    """

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        keepalive: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise UserError("max_connections must be at least 1", field="max_connections")
        if keepalive < 0:
            raise UserError("keepalive must not be negative", field="keepalive")
        self.max_connections = max_connections
        self.keepalive = keepalive
        self._ssl_context = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._targets: dict[str, _Target] = {}

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if any(pool.open for pool in self._pools.values()):
            raise UserError(
                "this transport's connections belong to the event loop it was first used on; "
                "create one transport per event loop",
                field="transport",
            )
        self._loop = loop
        self._pools = {}

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _parse_url(url)
            if len(self._targets) >= _MAX_CACHED_URLS:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def handle(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        target = self._target(request.url)
        data = _encode_request(request, target)
        pool = self._pools.get(target.origin)
        if pool is None:
            pool = self._pools[target.origin] = _Pool(self, target.origin)
        timeout = request.timeout
        started = loop.time()
        deadline = None if timeout.total is None else started + timeout.total
        fresh = False
        while True:
            conn = None if fresh else pool.take()
            if conn is None:
                try:
                    conn = await pool.acquire(timeout.connect, fresh, deadline)
                except TimeoutError as exc:
                    waited = loop.time() - started
                    raise APITimeoutError(f"Request timed out after {waited:.2f} s (total timeout).") from exc
            response = _HttpToolsResponse(conn, request, deadline)
            reused = conn.reused
            conn.send(data, response, timeout.read, loop.time())
            if not (response.complete or response.error or (response.headers_done and request.stream)):
                response.wake_each = False
                response.waiter = waiter = loop.create_future()
                try:
                    await waiter
                except BaseException:
                    response.drop()  # cancelled: this exchange is abandoned mid-way
                    raise
            error = response.error
            if error is None or (response.headers_done and request.stream):
                return response
            if response.stale and reused and not fresh:
                fresh = True  # a keep-alive connection the server had already closed: once more
                continue
            raise error

    async def _open_connection(
        self, pool: _Pool, connect: float | None, deadline: float | None
    ) -> _Connection:
        """A new connection on a slot already counted in ``pool.open``."""
        scheme, host, port = pool.origin
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            context = self._ssl_context
        conn = _Connection(pool)
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        limit = None if connect is None else pool.loop.time() + connect
        by_total = deadline is not None and (limit is None or deadline <= limit)
        try:
            async with asyncio.timeout_at(deadline if by_total else limit):
                await pool.loop.create_connection(
                    lambda: conn, host, port, ssl=context, server_hostname=host if context else None
                )
        except BaseException as exc:
            conn.abort()
            if isinstance(exc, TimeoutError) and not by_total:
                raise APITimeoutError(f"Timed out connecting to {where} (connect timeout).") from exc
            if isinstance(exc, ssl.SSLError):
                reason = exc.reason or type(exc).__name__
                raise APIConnectionError(f"TLS handshake with {where} failed: {reason}") from exc
            if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
                raise APIConnectionError(f"Could not connect to {where}: {exc.strerror or exc}") from exc
            raise
        return conn

    async def aclose(self) -> None:
        """Close every pooled and in-flight connection (waiting briefly for TLS close-notify)."""
        connections = [conn for pool in self._pools.values() for conn in pool.shut()]
        self._pools = {}
        lost: list[asyncio.Future[None]] = []
        for conn in connections:
            if conn.transport is None or conn.loop.is_closed():
                continue
            conn.lost = conn.loop.create_future()
            lost.append(conn.lost)
            if conn.response is not None:
                conn.fail(APIConnectionError("The transport was closed."))
            else:
                conn.close()
        if lost:
            await asyncio.wait(lost, timeout=1.0)
            for conn in connections:
                if conn.lost is not None and not conn.lost.done():
                    conn.abort()
            await asyncio.sleep(0)
