"""The gateway as one plain ASGI app: a dict of routes, a lifespan, errors in the caller's dialect."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from claudegate.client import AsyncTransport, HttpToolsTransport
from claudegate.gateway import _anthropic, _catalog, _openai
from claudegate.gateway._config import GatewayConfig, default_config
from claudegate.gateway._errors import GatewayError, anthropic_body, classify, openai_body
from claudegate.gateway._http import BodyTooLarge, Exchange, Receive, Scope, Send
from claudegate.gateway._limits import attach_deployment_limits
from claudegate.gateway._resilience import attach_resilience, health_deployments
from claudegate.gateway._router import build_router
from claudegate.gateway._state import GatewayState

if TYPE_CHECKING:
    from claudegate.gateway._policies import Policies

__all__ = ["GatewayApp"]

ADMIN_PATH = "/admin/keys"

log = logging.getLogger("claudegate.gateway")

Handler = Callable[[GatewayState, Exchange], Awaitable[tuple[str, str]]]

_TEXT = (b"content-type", b"text/plain; charset=utf-8")


async def _health(state: GatewayState, exchange: Exchange) -> tuple[str, str]:
    await exchange.send_bytes(200, b'{"status":"ok"}')
    return "", ""


async def _ready(state: GatewayState, exchange: Exchange) -> tuple[str, str]:
    if state.ready:
        await exchange.send_bytes(200, b'{"status":"ready"}')
    else:
        await exchange.send_bytes(503, b'{"status":"starting"}')
    return "", ""


async def _metrics(state: GatewayState, exchange: Exchange) -> tuple[str, str]:
    body = state.metrics.render()
    await exchange.send_bytes(200, body, (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"))
    return "", ""


async def _root(state: GatewayState, exchange: Exchange) -> tuple[str, str]:
    await exchange.send_bytes(200, b"claudegate\n" if exchange.method == "GET" else b"", _TEXT)
    return "", ""


async def _ready_with_counters(policies: Policies, exchange: Exchange) -> None:
    """``/ready`` with counters: unreachable Redis is 503 under fail_closed, reported under fail_open."""
    health = await policies.health()
    if health.ok:
        await exchange.send_bytes(200, b'{"status":"ready"}')
        return
    closed = health.policy is None or health.policy.value == "fail_closed"
    body = {
        "status": "unavailable" if closed else "degraded",
        "counters": {
            "backend": health.backend,
            "ok": False,
            "policy": health.policy,
            "detail": health.detail,
        },
    }
    await exchange.send_bytes(503 if closed else 200, orjson.dumps(body))


_ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/v1/messages"): _anthropic.messages,
    ("POST", "/v1/messages/count_tokens"): _anthropic.count_tokens,
    ("POST", "/v1/chat/completions"): _openai.chat_completions,
    ("POST", "/chat/completions"): _openai.chat_completions,
    ("GET", "/v1/models"): _catalog.list_models,
    ("GET", "/models"): _catalog.list_models,
    ("GET", "/health"): _health,
    ("HEAD", "/health"): _health,
    ("GET", "/ready"): _ready,
    ("HEAD", "/ready"): _ready,
    ("GET", "/metrics"): _metrics,
    ("GET", "/health/deployments"): health_deployments,
    ("GET", "/"): _root,
    ("HEAD", "/"): _root,
}
_PATHS = {path for _, path in _ROUTES}
_METERED = {_anthropic.messages, _anthropic.count_tokens, _openai.chat_completions}


class GatewayApp:
    """The ASGI app. ``state`` holds its config, router and metrics."""

    def __init__(
        self, config: GatewayConfig | None = None, *, transport: AsyncTransport | None = None
    ) -> None:
        config = config or default_config()
        transport = transport or HttpToolsTransport()
        self.state = GatewayState(config=config, router=build_router(config, transport), transport=transport)
        self.resilience = attach_resilience(config, self.state.router)
        attach_deployment_limits(config, self.state.router)  # in-process counters until storage opens
        self.policies: Policies | None = None
        if config.auth is not None or config.limits is not None or config.storage is not None:
            # Imported only when configured: the SQL and Redis layers cost start-up time and memory.
            from claudegate.gateway._policies import Policies

            self.policies = Policies.from_config(config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(Exchange(scope, receive, send))
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        """Open every provider (called by the ASGI lifespan)."""
        if self.policies is not None:
            await self.policies.start()
            self.resilience.bind(self.policies.counters)  # breakers open for every replica
            storage = self.state.config.storage
            if storage is not None and storage.redis_url:  # deployment limits shared by every replica
                attach_deployment_limits(self.state.config, self.state.router, self.policies.counters)
        for deployment in self.state.router.deployments():
            await deployment.provider.start()
        self.resilience.start_probes()
        self.state.ready = True

    async def shutdown(self) -> None:
        """Close every provider and the shared upstream connection pool."""
        self.state.ready = False
        await self.resilience.stop_probes()
        for deployment in self.state.router.deployments():
            await deployment.provider.aclose()
        await self.state.transport.aclose()
        if self.policies is not None:
            await self.policies.close()  # writes the last usage rows

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

    async def _http(self, exchange: Exchange) -> None:
        path = exchange.path
        if len(path) > 1 and path.endswith("/"):
            path = exchange.path = path.rstrip("/")
        handler = _ROUTES.get((exchange.method, path))
        label = path if handler is not None else "unmatched"
        if handler is None and exchange.method == "GET" and path.startswith(("/v1/models/", "/models/")):
            handler = _catalog.retrieve_model
            label = "/v1/models/{id}"
        state = self.state
        policies = self.policies
        if handler is None and path.startswith(ADMIN_PATH) and (path == ADMIN_PATH or path[11:12] == "/"):
            label = ADMIN_PATH
        model = deployment = ""
        status = 200
        try:
            if label == ADMIN_PATH:
                from claudegate.gateway._admin import admin_keys

                await admin_keys(policies, exchange)
            elif handler is None:
                if path in _PATHS:
                    raise GatewayError(
                        405, "invalid_request_error", f"{exchange.method} is not allowed on {path}"
                    )
                raise GatewayError(404, "not_found_error", f"no route {exchange.method} {path}")
            elif handler is _ready and state.ready and policies is not None:
                await _ready_with_counters(policies, exchange)
            elif handler in _METERED and policies is not None:
                model, deployment = await policies.run(
                    handler,
                    state,
                    exchange,
                    openai=handler is _openai.chat_completions,
                    metered=handler is not _anthropic.count_tokens,
                )
            else:
                model, deployment = await handler(state, exchange)
        except BodyTooLarge as exc:
            status = 413
            await self._send_error(exchange, GatewayError(413, "request_too_large", str(exc)))
        except Exception as exc:
            error = classify(exc)
            if error.status == 500:
                log.exception(
                    "unhandled error on %s %s (request %s)", exchange.method, path, exchange.request_id
                )
            status = error.status
            await self._send_error(exchange, error)
        metrics = state.metrics
        metrics.requests.inc((label, model, deployment, str(status)))
        metrics.latency.observe((label,), time.perf_counter() - exchange.started)
        if exchange.upstream_latency is not None and deployment:
            metrics.upstream_latency.observe((deployment,), exchange.upstream_latency)

    @staticmethod
    def _openai_dialect(exchange: Exchange) -> bool:
        if exchange.path.endswith("/chat/completions"):
            return True
        if exchange.path.startswith("/v1/messages"):
            return False
        return b"anthropic-version" not in exchange.headers and b"x-api-key" not in exchange.headers

    async def _send_error(self, exchange: Exchange, error: GatewayError) -> None:
        if exchange.response_started:
            log.warning("error after the answer began (request %s): %s", exchange.request_id, error)
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
