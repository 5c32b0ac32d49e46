"""The gateway as one plain ASGI app: a dict of routes to surfaces, a lifespan, errors in the
caller's dialect. Every model call goes through ``self.core`` (``GatewayCore``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from claudegate.client import AsyncTransport, HttpToolsTransport
from claudegate.errors import ClaudegateError
from claudegate.gateway._config import GatewayConfig, default_config
from claudegate.gateway._http import BodyTooLarge, Exchange, Receive, Scope, Send
from claudegate.gateway._reload import ConfigWatcher
from claudegate.gateway.batches import BatchService
from claudegate.gateway.core import (
    GatewayCore,
    GatewayError,
    Outcome,
    anthropic_body,
    classify,
    openai_body,
    shown,
)
from claudegate.gateway.events import EventBus, Pipelines
from claudegate.gateway.jobs import JobService
from claudegate.gateway.surfaces import (
    anthropic,
    embeddings,
    models,
    openai,
    openapi,
    ops,
    reference,
    responses,
    usage,
)
from claudegate.gateway.surfaces.collections import PREFIX as COLLECTIONS_PREFIX
from claudegate.gateway.surfaces.collections import CollectionsSurface
from claudegate.gateway.surfaces.dashboard import PREFIX as DASHBOARD_PREFIX
from claudegate.gateway.surfaces.dashboard import DashboardSurface
from claudegate.gateway.surfaces.events import PREFIX as EVENTS_PREFIX
from claudegate.gateway.surfaces.events import EventsSurface
from claudegate.gateway.surfaces.graphql import PATH as GRAPHQL_PATH
from claudegate.gateway.surfaces.graphql import GraphQLSurface
from claudegate.gateway.surfaces.jobs import PREFIX as JOBS_PREFIX
from claudegate.gateway.surfaces.jobs import JobsSurface
from claudegate.gateway.surfaces.message_batches import PREFIX as MESSAGE_BATCHES_PREFIX
from claudegate.gateway.surfaces.message_batches import MessageBatchesSurface
from claudegate.gateway.surfaces.openai_batches import BATCHES as OPENAI_BATCHES
from claudegate.gateway.surfaces.openai_batches import FILES as OPENAI_FILES
from claudegate.gateway.surfaces.openai_batches import OpenAIBatchesSurface
from claudegate.gateway.surfaces.socketio import SocketIOSurface
from claudegate.gateway.surfaces.websocket import WebSocketSurface

__all__ = ["GatewayApp"]

ADMIN_PATH = "/admin/keys"
SOCKETIO_PATH = "/socket.io/"

log = logging.getLogger("claudegate.gateway")

Handler = Callable[[GatewayCore, Exchange], Awaitable[Outcome | None]]
PrefixRouter = Callable[[str, str], Handler | None]
"""A surface's own router: (method, path) to its handler, or None."""

_ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/v1/messages"): anthropic.messages,
    ("POST", "/v1/messages/count_tokens"): anthropic.count_tokens,
    ("POST", "/v1/chat/completions"): openai.chat_completions,
    ("POST", "/chat/completions"): openai.chat_completions,
    ("POST", "/v1/responses"): responses.create_response,
    ("POST", "/v1/embeddings"): embeddings.create_embeddings,
    ("POST", "/embeddings"): embeddings.create_embeddings,
    ("POST", "/responses"): responses.create_response,
    ("GET", "/v1/models"): models.list_models,
    ("GET", "/models"): models.list_models,
    ("GET", "/health"): ops.health,
    ("HEAD", "/health"): ops.health,
    ("GET", "/ready"): ops.ready,
    ("HEAD", "/ready"): ops.ready,
    ("GET", "/metrics"): ops.metrics,
    ("GET", "/health/deployments"): ops.health_deployments,
    ("GET", "/openapi.json"): openapi.openapi,
    ("GET", reference.PATH): reference.reference,
    ("GET", usage.USAGE_PATH): usage.own_usage,
    ("GET", usage.ADMIN_USAGE_PATH): usage.admin_usage,
    ("GET", "/"): ops.root,
    ("HEAD", "/"): ops.root,
}
_PATHS = {path for _, path in _ROUTES}
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


def _allowed_methods(path: str) -> str:
    """The ``Allow`` value of a path the gateway serves ("" for one it does not)."""
    methods = {method for method, route in _ROUTES if route == path}
    if path.startswith(("/v1/models/", "/models/")):
        methods.add("GET")
    return ", ".join(sorted({*methods, "OPTIONS"})) if methods else ""


async def _options(core: GatewayCore, exchange: Exchange) -> None:
    """``OPTIONS``: the methods the path takes, no body (a reachability probe needs no key)."""
    await exchange.send_bytes(200, b"", _TEXT, [(b"allow", _allowed_methods(exchange.path).encode())])


# What operators read: behind a key once keys are enforced (``auth.operations``).
_OPERATIONS: set[Handler] = {ops.metrics, ops.health_deployments, models.list_models, models.retrieve_model}


class GatewayApp:
    """The ASGI app. ``core`` holds its routes, policies and metrics."""

    def __init__(
        self,
        config: GatewayConfig | None = None,
        *,
        transport: AsyncTransport | None = None,
        config_path: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = GatewayCore(
            config or default_config(),
            transport or HttpToolsTransport(),
            config_path=config_path,
            clock=clock,
        )
        self.watcher = ConfigWatcher(self.core) if config_path is not None else None
        self.websocket = WebSocketSurface(self.core)
        """``/v1/ws`` (replace it before startup to change its settings)."""
        self.jobs = JobService(self.core, clock)
        """The job engine behind ``/v1/jobs`` (``await app.jobs.engine()``)."""
        self._jobs_surface = JobsSurface(self.jobs)
        self.batches = BatchService(self.core, self.jobs, clock)
        """Message Batches and OpenAI batches on the job engine (``/v1/messages/batches``,
        ``/v1/files``, ``/v1/batches``)."""
        self._message_batches = MessageBatchesSurface(self.batches)
        self._openai_batches = OpenAIBatchesSurface(self.batches)
        pipelines = Pipelines.from_config(self.core.config.events)
        self.events = EventBus(self.core, self.jobs, pipelines, clock, lambda: self.websocket.hub)
        """Event pipelines on the job engine (``/v1/events``; ``app.events.pipelines.add`` in Python)."""
        self._events_surface = EventsSurface(self.events)
        self.socketio = SocketIOSurface(self.core)
        """``/socket.io/`` (replace it before startup to change its settings)."""
        self.graphql = GraphQLSurface(self.core, self.jobs, self.batches, lambda: self.websocket.hub)
        """``/graphql`` (queries, mutations, subscriptions; its rooms are ``/v1/ws``'s)."""
        self.retrieval = self.core.retrieval
        """The store behind ``/v1/collections`` and routes with ``retrieval`` (opened on first use)."""
        self._collections = CollectionsSurface(self.retrieval)
        self.dashboard = DashboardSurface(self.core, self.jobs, self.batches, self.events, clock=clock)
        """``/dashboard``: the admin's pages (docs/dashboard.md); its sessions live in this process."""
        self._prefixed: tuple[tuple[tuple[str, ...], str, PrefixRouter], ...] = (
            ((JOBS_PREFIX,), JOBS_PREFIX, self._jobs_surface.route),
            ((MESSAGE_BATCHES_PREFIX,), MESSAGE_BATCHES_PREFIX, self._message_batches.route),
            (OPENAI_FILES, "/v1/files", self._openai_batches.route),
            (OPENAI_BATCHES, "/v1/batches", self._openai_batches.route),
            ((COLLECTIONS_PREFIX,), COLLECTIONS_PREFIX, self._collections.route),
            ((DASHBOARD_PREFIX,), DASHBOARD_PREFIX, self.dashboard.route),
        )
        """Surfaces that route the paths under their prefixes themselves: (prefixes, the metric
        label, their router)."""
        self.access_log = self.core.access_log
        """One line per HTTP request on the ``claudegate.access`` logger (docs/observability.md)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "lifespan" and scope.get("path", "").startswith(SOCKETIO_PATH):
            await self.socketio(scope, receive, send)
        elif kind != "lifespan" and scope.get("path", "").rstrip("/") == GRAPHQL_PATH:
            await self.graphql(scope, receive, send)
        elif kind == "http":
            await self._http(Exchange(scope, receive, send))
        elif kind == "websocket":
            await self.websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        """Open the core (called by the ASGI lifespan), then watch the config file if there is one."""
        await self.core.start()
        await self.websocket.start()
        await self.jobs.start()
        await self.events.start()
        await self.socketio.start()
        await self.graphql.start()
        if self.watcher is not None:
            self.watcher.start()

    async def shutdown(self) -> None:
        """Close the core: providers, the upstream connection pool, the last ledger rows."""
        if self.watcher is not None:
            await self.watcher.stop()
        await self.websocket.close()  # its streams settle through the core: before the core closes
        await self.batches.close()
        await self.events.close()
        await self.jobs.close()  # running attempts are cancelled: their leases lapse, others retry
        await self.socketio.close()
        await self.core.close()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _route(self, method: str, path: str) -> tuple[Handler, str] | None:
        """A fixed route's handler, or one of ``/v1/events``."""
        handler = _ROUTES.get((method, path))
        if handler is not None:
            return handler, path
        if path == EVENTS_PREFIX or path.startswith(EVENTS_PREFIX + "/"):
            event_route = self._events_surface.route(method, path)
            return (event_route, EVENTS_PREFIX) if event_route is not None else None
        return None

    def _handler(self, exchange: Exchange) -> tuple[Handler | None, str]:
        path = exchange.path
        if len(path) > 1 and path.endswith("/"):
            path = exchange.path = path.rstrip("/")
        routed = self._route(exchange.method, path)
        if routed is not None:
            return routed
        if exchange.method == "OPTIONS" and _allowed_methods(path):
            return _options, path
        if exchange.method == "GET" and path.startswith(("/v1/models/", "/models/")):
            return models.retrieve_model, "/v1/models/{id}"
        if path.startswith(responses.PREFIXES):
            if exchange.method == "GET":
                return responses.retrieve_response, "/v1/responses/{id}"
            if exchange.method == "DELETE":
                return responses.delete_response, "/v1/responses/{id}"
        for prefixes, label, router in self._prefixed:
            if any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes):
                prefixed = router(exchange.method, path)
                if prefixed is not None:
                    return prefixed, label
        if path.startswith(ADMIN_PATH) and (path == ADMIN_PATH or path[11:12] == "/"):
            from claudegate.gateway.surfaces.admin import admin_keys

            return admin_keys, ADMIN_PATH
        return None, "unmatched"

    async def _http(self, exchange: Exchange) -> None:
        handler, label = self._handler(exchange)
        core = self.core
        exchange.gzip_min_bytes = core.config.gateway.gzip_min_bytes
        status = 200
        error_type: str | None = None
        try:
            if handler is None:
                if exchange.path in _PATHS:
                    raise GatewayError(
                        405,
                        "invalid_request_error",
                        f"{shown(exchange.method)} is not allowed on {exchange.path}",
                    )
                raise GatewayError(
                    404, "not_found_error", f"no route {shown(exchange.method)} {shown(exchange.path)}"
                )
            if handler in _OPERATIONS:
                await core.check_operator(exchange.credential())
            outcome = await handler(core, exchange)
            if exchange.disconnected:
                status = 499
                if exchange.response_started:  # a stream the client left before its end
                    core.metrics.disconnects.inc()
            elif outcome is not None and outcome.error is not None and not exchange.response_started:
                status = outcome.status
            elif exchange.status is not None:  # a surface that answered itself (a redirect, its error)
                status = exchange.status
        except BodyTooLarge as exc:
            status, error_type = 413, "request_too_large"
            await self._send_error(exchange, GatewayError(413, "request_too_large", str(exc)))
        except Exception as exc:
            error = classify(exc)
            if not isinstance(exc, ClaudegateError | GatewayError):  # a bug: its traceback is wanted
                log.exception(
                    "unhandled error on %s %s (request %s)",
                    exchange.method,
                    exchange.path,
                    exchange.request_id,
                )
            elif error.status >= 500:  # an upstream's failure, relayed: one line is enough
                log.warning("request %s: upstream failed: %s", exchange.request_id, error)
            status, error_type = error.status, error.error_type
            await self._send_error(exchange, error)
        self.access_log.record(exchange, status, label, error_type)
        metrics = core.metrics
        call = exchange.call
        model = deployment = ""
        if call is not None:
            model, deployment = call.outcome.model_label or "other", call.outcome.deployment
        metrics.requests.inc((label, model, deployment, str(status)))
        metrics.latency.observe((label,), time.perf_counter() - exchange.started)

    @staticmethod
    def _openai_dialect(exchange: Exchange) -> bool:
        if exchange.path.endswith(("/chat/completions", "/embeddings")) or exchange.path.startswith(
            ("/v1/responses", "/responses", "/v1/collections")
        ):
            return True
        if exchange.path.startswith("/v1/messages"):
            return False
        if exchange.path.startswith(OPENAI_FILES + OPENAI_BATCHES):
            return True
        return b"anthropic-version" not in exchange.headers and b"x-api-key" not in exchange.headers

    async def _send_error(self, exchange: Exchange, error: GatewayError) -> None:
        if exchange.response_started:
            log.warning("error after the answer began (request %s): %s", exchange.request_id, error)
            return
        if exchange.disconnected:
            return
        body = (
            openai_body(error)
            if self._openai_dialect(exchange)
            else anthropic_body(error, exchange.request_id)
        )
        headers = error.headers
        if "x-should-retry" not in headers:  # what official SDKs (and Claude Code) read before retrying
            retryable = error.status in (408, 409, 429) or error.status >= 500
            headers = {**headers, "x-should-retry": "true" if retryable else "false"}
        extra = [(name.encode(), value.encode()) for name, value in headers.items()]
        await exchange.send_bytes(error.status, body, extra=extra)
