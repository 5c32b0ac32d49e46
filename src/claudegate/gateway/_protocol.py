"""The gateway's HTTP/1.1 edge: uvicorn's httptools protocol with limits a hostile client meets
before the app does.

Unchanged, uvicorn buffers a request head without bound (httptools joins each header from its
pieces, so a 64 MB header costs seconds of CPU and its size in memory, before authentication),
waits forever for a head or body that never completes, and answers parser errors as plain text.
``EdgeProtocol`` keeps uvicorn's request cycle and changes only that:

- **Size.** The bytes of a head are counted *before* the parser sees them: past
  ``max_header_bytes`` the request is refused and nothing more is parsed. The header count and
  each field's size are checked once the (bounded) head is in, so nothing is added per header.
  A chunked body's trailers, which httptools buffers too, are held to ``max_header_bytes``.
- **Time.** One timer per connection, armed when a wait begins (the connection opens, an answer
  is sent) and re-armed only when it fires, enforces the header, keep-alive and body deadlines.
  Reads do not touch it; a read only notes the time when a body spans reads.
- **Refusals** (400 malformed, 408 too slow, 431 head too large, 503 over the connection cap) are
  JSON in the Anthropic error envelope with ``connection: close``. After one, the connection is
  half-closed and drained for a moment before it is closed: closing on unread input resets the
  connection, and a reset can destroy the answer before the client reads it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, NoReturn, cast

import httptools
import orjson
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from claudegate.gateway._config import EdgeConfig

__all__ = ["EdgeProtocol", "edge_protocol"]

log = logging.getLogger("claudegate.gateway.edge")

_LINGER_SECONDS = 2.0
"""The longest a refused connection stays half-open for its client to read the answer."""
_LINGER_BYTES = 1024 * 1024
"""What a refused client may still send before the connection is closed on it."""


def _error_body(error_type: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})


_OVERLOADED = _error_body("overloaded_error", "the gateway is at its connection limit; retry shortly")


async def _answer_over_capacity(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """The answer to a request over ``max_connections`` (uvicorn's own is plain text)."""
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_OVERLOADED)).encode()),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _OVERLOADED, "more_body": False})


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; ``EdgeProtocol._refusal`` says how to answer."""


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol under ``limits``; build a configured class with ``edge_protocol``."""

    limits: ClassVar[EdgeConfig] = EdgeConfig()
    # Read per request or per body: one lookup each.
    _head_limit: ClassVar[int] = limits.max_header_bytes
    _body_first_deadline: ClassVar[float] = min(limits.body_idle_timeout, limits.body_timeout)

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limit_concurrency = None  # the cap is enforced here, answered in JSON
        self._app = self.app
        self._timer: asyncio.TimerHandle | None = None
        self._reading_head = True  # the parser is before or inside a request head
        self._idle = False  # kept alive after an answer, no byte of the next request yet
        self._head_started = 0.0
        self._head_bytes = 0
        self._awaiting_body = False  # the head is in, the body is not
        self._body_clock = False
        self._body_started = 0.0
        self._body_read_at = 0.0
        self._body_events = 0
        self._quiet_bytes = 0  # body-phase bytes that brought no body: trailers, chunk framing
        self._over_capacity = False
        self._refusal: tuple[int, str, str] | None = None
        self._lingering = False
        self._lingered_bytes = 0

    # Connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Decided once: connections already open keep being served; newcomers past the cap are not.
        cap = self.limits.max_connections
        self._over_capacity = cap is not None and len(self.connections) > cap
        self._head_started = self.loop.time()
        self._timer = self.loop.call_later(self.limits.header_timeout, self._on_timer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # The two common cases are kept to this one frame, like uvicorn's own.
        if self._reading_head:
            if self._idle:
                self._idle = False
                self._head_started = self.loop.time()
            size = self._head_bytes + len(data)
            if size > self._head_limit:
                self._receive_past_head_limit(data)
            else:
                self._head_bytes = size
                try:
                    self.parser.feed_data(data)
                except httptools.HttpParserUpgrade:
                    self._upgrade()
                except httptools.HttpParserError as exc:
                    self._malformed(exc)
        elif self._awaiting_body:
            events = self._body_events
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                self._upgrade()
            except httptools.HttpParserError as exc:
                self._malformed(exc)
            if events != self._body_events:
                self._quiet_bytes = 0
            else:
                self._received_no_body(len(data))
        else:  # refused: drained until closed
            self._lingered_bytes += len(data)
            if self._lingered_bytes > _LINGER_BYTES:
                self.transport.close()
            return
        if self._awaiting_body:
            # The body spans reads (most arrive with their head): note when it last moved.
            now = self.loop.time()
            self._body_read_at = now
            if not self._body_clock:
                self._start_body_clock(now)

    def _start_body_clock(self, now: float) -> None:
        self._body_clock = True
        self._body_started = now
        # The pending timer may be the head's, due after this body's first deadline.
        first = self._body_first_deadline
        if self._timer is None or self._timer.when() > now + first:
            self._cancel_timer()
            self._arm(first)

    def _receive_past_head_limit(self, data: bytes) -> None:
        # Parse only what the limit leaves: if the head ends within it, the rest is read as usual.
        # (A pipelined head that begins inside a read goes uncounted for the rest of that read, at
        # most max_header_bytes: telling where it began would take a second parse.)
        limit = self._head_limit
        room = limit - self._head_bytes
        self._head_bytes = limit
        self._feed(data[:room])
        if self._reading_head and self._head_bytes == limit:
            self._refuse(431, "invalid_request_error", f"the request head is larger than {limit} bytes")
        elif self._reading_head or self._awaiting_body:
            self.data_received(data[room:])

    def _received_no_body(self, size: int) -> None:
        # A whole read with no body in it: trailers (which httptools buffers) or chunk framing.
        self._quiet_bytes += size
        limit = self._head_limit
        if self._awaiting_body and self._quiet_bytes > limit:
            self._refuse(431, "invalid_request_error", f"the request trailers are larger than {limit} bytes")

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade()
        except httptools.HttpParserError as exc:
            self._malformed(exc)

    def _upgrade(self) -> None:
        if self._should_upgrade():
            self.handle_websocket_upgrade()
        else:
            self._unsupported_upgrade_warning()

    def _malformed(self, exc: httptools.HttpParserError) -> None:
        refusal = self._refusal
        if refusal is None:
            detail = "" if isinstance(exc, httptools.HttpParserCallbackError) else f": {exc}"
            refusal = (400, "invalid_request_error", f"malformed HTTP request{detail}")
        self._refuse(*refusal)

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes the connection over, with its own timeouts.
        self._cancel_timer()
        self._reading_head = self._awaiting_body = False
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "invalid_request_error", msg)

    # Parser callbacks (uvicorn's on_header runs unchanged: nothing is added per header)

    def on_headers_complete(self) -> None:
        # The head's bytes are bounded already, so its fields are checked once, all together;
        # one no longer than a field's limit cannot hold a field past it (0: a head not counted).
        if len(self.headers) > self.limits.max_header_count or not (
            0 < self._head_bytes <= self.limits.max_header_line_bytes
        ):
            self._check_fields()
        self._reading_head = False
        self._awaiting_body = True
        self._body_clock = False
        self._head_bytes = self._quiet_bytes = 0
        if not self._over_capacity or self.parser.should_upgrade():  # WebSockets have their own limits
            HttpToolsProtocol.on_headers_complete(self)
            return
        log.warning("a connection over the limit (%s) was refused with 503", self.limits.max_connections)
        self.app = _answer_over_capacity
        try:
            HttpToolsProtocol.on_headers_complete(self)
        finally:
            self.app = self._app

    def _check_fields(self) -> None:
        limits = self.limits
        if len(self.headers) > limits.max_header_count:
            self._stop(f"more than {limits.max_header_count} header fields")
        longest = limits.max_header_line_bytes
        for name, value in self.headers:
            if len(name) + len(value) > longest:
                self._stop(f"a header field is larger than {longest} bytes")

    def on_body(self, body: bytes) -> None:
        self._body_events += 1
        HttpToolsProtocol.on_body(self, body)

    def on_message_complete(self) -> None:
        self._awaiting_body = False
        self._reading_head = True
        HttpToolsProtocol.on_message_complete(self)
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is not None and cycle.response_complete and not self.pipeline:
            # Answered before the body was all in: the keep-alive wait begins only now.
            self._start_keep_alive()

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif not self._awaiting_body:  # else the body's clocks keep running
            self._start_keep_alive()

    # Deadlines

    def _start_keep_alive(self) -> None:
        # Once per request: uvicorn cancels and arms its keep-alive timer here too, and no more.
        if self._timer is not None:
            self._timer.cancel()
        if self._head_bytes:  # the next head began while this answer was being sent
            self._head_started = self.loop.time()
            self._timer = self.loop.call_later(self.limits.header_timeout, self._on_timer)
        else:
            self._idle = True
            self._timer = self.loop.call_later(self.limits.keep_alive_timeout, self._on_timer)

    def _arm(self, delay: float) -> None:
        self._timer = self.loop.call_later(delay, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._lingering or self.transport.is_closing():
            return
        if self._awaiting_body:
            self._check_body(self.loop.time())
            return
        cycle: RequestResponseCycle | None = self.cycle
        if self._reading_head and (cycle is None or cycle.response_complete):
            self._check_head(self.loop.time())
        # Otherwise the app is answering; on_response_complete starts the next wait.

    def _check_body(self, now: float) -> None:
        limits = self.limits
        if self.flow.read_paused:
            # The app has not taken what was read: the wait is the gateway's, not the client's.
            self._body_read_at = now
            self._arm(limits.body_idle_timeout)
            return
        idle_until = self._body_read_at + limits.body_idle_timeout
        deadline = min(idle_until, self._body_started + limits.body_timeout)
        if now < deadline:
            self._arm(deadline - now)
        else:
            self._refuse(408, "timeout_error", "the request body did not arrive in time")

    def _check_head(self, now: float) -> None:
        if self._idle:
            self.transport.close()  # kept alive long enough
            return
        deadline = self._head_started + self.limits.header_timeout
        if now < deadline:
            self._arm(deadline - now)
        elif self._head_bytes:
            self._refuse(408, "timeout_error", "the request head did not arrive in time")
        else:
            self.transport.close()  # never said a word

    # Refusals

    def _stop(self, message: str) -> NoReturn:
        self._refusal = (431, "invalid_request_error", message)
        raise _Refused(message)

    def _refuse(self, status: int, error_type: str, message: str) -> None:
        """Answer ``status`` in JSON unless an answer has begun, then close the connection."""
        log.debug("%s refused with %d: %s", self.client, status, message)
        in_body = self._awaiting_body
        self._cancel_timer()
        self._reading_head = self._awaiting_body = False
        self._lingering = True
        cycle: RequestResponseCycle | None = self.cycle
        # In a body, the cycle is this request's; in a head, the previous request's.
        answerable = cycle is None or (not cycle.response_started if in_body else cycle.response_complete)
        if cycle is not None and not cycle.response_complete:
            # The app must stop reading, and must not answer after (or in the middle of) this.
            cycle.disconnected = True
            cycle.message_event.set()
        if not answerable:
            self.transport.close()
            return
        body = _error_body(error_type, message)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\nconnection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(head))
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
            linger = min(_LINGER_SECONDS, self.limits.header_timeout)
            self._timer = self.loop.call_later(linger, self.transport.close)
        else:
            self.transport.close()


def edge_protocol(limits: EdgeConfig) -> type[EdgeProtocol]:
    """An ``EdgeProtocol`` class enforcing ``limits``, for uvicorn's ``http=`` setting.

    >>> uvicorn.Config(app, http=edge_protocol(EdgeConfig(header_timeout=5)))
    """
    namespace = {
        "limits": limits,
        "_head_limit": limits.max_header_bytes,
        "_body_first_deadline": min(limits.body_idle_timeout, limits.body_timeout),
    }
    return cast("type[EdgeProtocol]", type("EdgeProtocol", (EdgeProtocol,), namespace))
