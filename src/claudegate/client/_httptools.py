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
from collections import deque
from typing import cast

from claudegate.client._http1 import MAX_CACHED_URLS, SLACK, Target, encode_request, parse_url
from claudegate.client._http1_connection import Connection, HttpToolsResponse
from claudegate.client._transport import AsyncTransport, Request, Response
from claudegate.errors import APIConnectionError, APITimeoutError, UserError

__all__ = ["HttpToolsTransport"]

_REPEATABLE = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods safe to send again when a reused connection turns out closed (RFC 9110 idempotent)."""


class Pool:
    """Connections to one origin: idle ones reused last-in-first-out, at most ``limit`` open."""

    def __init__(self, owner: HttpToolsTransport, origin: tuple[str, str, int]) -> None:
        self.owner = owner
        self.loop = cast(asyncio.AbstractEventLoop, owner._loop)
        self.origin = origin
        self.limit = owner.max_connections
        self.keepalive = owner.keepalive
        self.open = 0  # connections open or opening: what ``limit`` bounds
        self.idle: deque[Connection] = deque()
        self.connections: set[Connection] = set()
        self.waiters: deque[asyncio.Future[Connection | None]] = deque()
        self.sweeper: asyncio.TimerHandle | None = None
        self.closed = False

    def take(self) -> Connection | None:
        """The most recently used idle connection that has not expired."""
        while self.idle:
            conn = self.idle.pop()
            if self.loop.time() - conn.idle_since < self.keepalive:
                return conn
            conn.close()
        return None

    async def acquire(self, connect: float | None, fresh: bool, deadline: float | None) -> Connection:
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
            waiter: asyncio.Future[Connection | None] = self.loop.create_future()
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

    def give_back(self, conn: Connection | None) -> None:
        if conn is None:
            self.free_slot()
        else:
            self.release(conn)

    def release(self, conn: Connection) -> None:
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
        expired = self.loop.time() - self.keepalive + SLACK
        while self.idle and self.idle[0].idle_since <= expired:
            self.idle.popleft().close()
        if self.idle:
            self.sweeper = self.loop.call_at(self.idle[0].idle_since + self.keepalive, self.sweep)

    def forget_idle(self, conn: Connection) -> None:
        if self.idle and conn in self.idle:
            self.idle.remove(conn)

    def forget(self, conn: Connection) -> None:
        self.forget_idle(conn)
        self.connections.discard(conn)

    def shut(self) -> list[Connection]:
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
        self._pools: dict[tuple[str, str, int], Pool] = {}
        self._targets: dict[str, Target] = {}

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if any(pool.open for pool in self._pools.values()):
            raise UserError(
                "this transport's connections belong to the event loop it was first used on; "
                "create one transport per event loop",
                field="transport",
            )
        self._loop = loop
        self._pools = {}

    def _target(self, url: str) -> Target:
        target = self._targets.get(url)
        if target is None:
            target = parse_url(url)
            if len(self._targets) >= MAX_CACHED_URLS:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def handle(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        target = self._target(request.url)
        data = encode_request(request, target)
        pool = self._pools.get(target.origin)
        if pool is None:
            pool = self._pools[target.origin] = Pool(self, target.origin)
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
            response = HttpToolsResponse(conn, request, deadline)
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
            if response.stale and reused and not fresh and request.method in _REPEATABLE:
                # A keep-alive connection the server had already closed: once more. Never for a
                # POST, which the server may have received and acted on before the reset.
                fresh = True
                continue
            raise error

    async def _open_connection(self, pool: Pool, connect: float | None, deadline: float | None) -> Connection:
        """A new connection on a slot already counted in ``pool.open``."""
        scheme, host, port = pool.origin
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            context = self._ssl_context
        conn = Connection(pool)
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
