"""The WebSocket surface, ``/v1/ws``: many streams over one connection, and rooms that share them.

Anthropic has no WebSocket API, so the framing follows OpenAI's Realtime and Responses WebSocket
conventions (typed JSON messages, client ``event_id`` echoed as ``client_event_id``, server event
ids, one ``stream_id`` per request) and carries the exact Anthropic stream event objects inside, so
existing event parsers work unchanged. Every stream is a core call (dialect ``websocket``): limits,
budgets, ledger rows and metrics as for HTTP. The protocol is documented in ``docs/websocket.md``.

>>> surface = WebSocketSurface(core, WebSocketSettings(max_streams=4))
>>> await surface.start()            # opens the room hub (Redis when storage.redis_url is set)
>>> await surface(scope, receive, send)   # one connection, until it closes
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from claudegate.gateway._http import FORWARDED_HEADERS, Receive, Scope, Send
from claudegate.gateway._metrics import Counter, Metrics
from claudegate.gateway._websocket_protocol import SEND_TEXTS, text_writer
from claudegate.gateway.core import (
    GatewayCore,
    GatewayError,
    RoomHub,
    anthropic_error,
    new_request_id,
    open_room_hub,
    presented_key,
    shown,
)
from claudegate.gateway.surfaces.websocket._logging import install_redaction
from claudegate.gateway.surfaces.websocket._protocol import (
    KEY_PROTOCOL_PREFIX,
    PATH,
    PROTOCOL,
    CloseCode,
    WebSocketSettings,
)
from claudegate.gateway.surfaces.websocket._session import Session

__all__ = ["WebSocketSurface"]


class _WebSocketMetrics(Collector):
    """Connections open now (counted in the gateway's ``Metrics``, where the dashboard reads it),
    and closes by code (added to the gateway's ``/metrics``)."""

    def __init__(self, gateway: Metrics) -> None:
        self.closes = Counter(
            "claudegate_websocket_closes", "WebSocket connections closed, by close code.", ("code",)
        )
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        yield self.closes.family()
        gauge = GaugeMetricFamily("claudegate_websocket_connections", "WebSocket connections open now.")
        gauge.add_metric([], self.gateway.websocket_connections)
        yield gauge


def _protocol_key(offered: list[str]) -> str | None:
    for protocol in offered:
        if protocol.startswith(KEY_PROTOCOL_PREFIX) and len(protocol) > len(KEY_PROTOCOL_PREFIX):
            return protocol[len(KEY_PROTOCOL_PREFIX) :]
    return None


async def _refuse(scope: Scope, send: Send, status: int, error_type: str, message: str) -> None:
    """Refuse the handshake: an HTTP answer where the server supports it, else uvicorn's 403."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = orjson.dumps(anthropic_error(GatewayError(status, error_type, message), new_request_id()))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


class WebSocketSurface:
    """Serves ``/v1/ws`` for one gateway; one room hub per surface, opened by ``start()``.

    ``settings`` bounds every connection (default: the configuration's ``gateway.websocket``); ``hub``
    overrides the hub the configuration picks; ``clock`` (monotonic seconds) times the
    messages-per-minute window.
    """

    def __init__(
        self,
        core: GatewayCore,
        settings: WebSocketSettings | None = None,
        *,
        hub: RoomHub | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self._fixed = settings
        self.hub = hub
        self.clock = clock
        self.sessions: set[Session] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._metrics = _WebSocketMetrics(core.metrics)
        self._running = False
        self._peak_queued = 0

    @property
    def settings(self) -> WebSocketSettings:
        """The given settings, else the configuration's ``gateway.websocket`` (a reload applies to
        connections opened after it)."""
        return self._fixed or self.core.config.gateway.websocket

    async def start(self) -> None:
        """Open the room hub and add the WebSocket metrics (called at the app's startup)."""
        install_redaction()
        if self.hub is None:
            settings = self.settings
            self.hub = open_room_hub(
                self.core.config, history=settings.room_history, buffer=settings.room_buffer
            )
        await self.hub.start()
        self.core.metrics.registry.register(self._metrics)
        self._running = True

    async def close(self) -> None:
        """Close every connection (1001), settling their streams, then the room hub."""
        if not self._running:
            return
        self._running = False
        for session in list(self.sessions):
            session.close(CloseCode.GOING_AWAY, "server shutting down")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.settings.close_timeout + 1)
        if self.hub is not None:
            await self.hub.close()
        self.core.metrics.registry.unregister(self._metrics)

    @property
    def peak_queued(self) -> int:
        """The most frames any connection's send queue has held (never above ``send_queue``)."""
        return max([self._peak_queued, *(session.outbox.peak for session in self.sessions)])

    def _closed(self, code: int) -> None:
        self._metrics.closes.inc((str(code),))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection from handshake to close."""
        path: str = scope.get("path", "")
        if path not in (PATH, PATH + "/"):
            await _refuse(
                scope, send, 404, "not_found_error", f"no WebSocket endpoint at {shown(path)}; use {PATH}"
            )
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if not self._running or self.hub is None:
            await _refuse(scope, send, 503, "overloaded_error", "the gateway is not serving WebSockets now")
            return
        offered = [str(protocol) for protocol in scope.get("subprotocols") or ()]
        if offered and PROTOCOL not in offered:
            await _refuse(scope, send, 400, "invalid_request_error", f"offer the {PROTOCOL} subprotocol")
            return
        headers: dict[bytes, bytes] = dict(scope.get("headers") or ())
        credential = presented_key(headers) or _protocol_key(offered)
        forwarded = {
            name.decode(): headers[name].decode("latin-1") for name in FORWARDED_HEADERS if name in headers
        }
        # The key may have come as a subprotocol: only the protocol name is ever echoed.
        await send({"type": "websocket.accept", "subprotocol": PROTOCOL if offered else None})
        session = Session(
            self.core,
            self.settings,
            self.hub,
            receive,
            send,
            credential=credential,
            forwarded=forwarded,
            clock=self.clock,
            on_close=self._closed,
            send_texts=SEND_TEXTS in (scope.get("extensions") or {}),
            write=text_writer(scope),
        )
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.sessions.add(session)
        self.core.metrics.websocket_connections += 1
        try:
            await session.run()
        finally:
            self.core.metrics.websocket_connections -= 1
            self._peak_queued = max(self._peak_queued, session.outbox.peak)
            self.sessions.discard(session)
            if task is not None:
                self._tasks.discard(task)
