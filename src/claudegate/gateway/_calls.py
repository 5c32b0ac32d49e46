"""Calling a route's deployments: build each upstream request, fail over before the first byte.

Deployments are tried in priority order; the next one is tried only when the failure happened
before any byte reached the client and is worth another upstream (no answer at all, 429, 5xx).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from claudegate.errors import APIConnectionError, APIStatusError
from claudegate.gateway._errors import GatewayError
from claudegate.gateway._http import Exchange
from claudegate.gateway._router import Deployment, Route
from claudegate.providers import ProviderRequest, ProviderResponse, ProviderStream

__all__ = ["FORWARDED_HEADERS", "call_route", "forwarded_headers"]

T = TypeVar("T", ProviderResponse, ProviderStream)

FORWARDED_HEADERS = (b"anthropic-version", b"anthropic-beta", b"x-sim-fault", b"x-sim-latency")
DEFAULT_VERSION = "2023-06-01"


def forwarded_headers(exchange: Exchange) -> dict[str, str]:
    """The client headers an upstream should see (``anthropic-version`` always set)."""
    headers = {}
    for name in FORWARDED_HEADERS:
        value = exchange.headers.get(name)
        if value is not None:
            headers[name.decode()] = value.decode("latin-1")
    headers.setdefault("anthropic-version", DEFAULT_VERSION)
    return headers


class _ClientWatch:
    """Cancels the handler task when the client disconnects while the upstream is working."""

    __slots__ = ("left", "task")

    def __init__(self, exchange: Exchange) -> None:
        self.left = False
        handler = asyncio.current_task()
        assert handler is not None
        self.task = asyncio.get_running_loop().create_task(self._watch(exchange, handler))

    async def _watch(self, exchange: Exchange, handler: asyncio.Task[Any]) -> None:
        # The body has been read: the next message can only be the client's disconnect.
        while (await exchange.receive())["type"] != "http.disconnect":
            pass
        self.left = True
        handler.cancel()

    def stop(self) -> None:
        self.task.cancel()


def _worth_failing_over(exc: Exception) -> bool:
    if isinstance(exc, APIConnectionError):
        return True
    return isinstance(exc, APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


async def call_route(
    exchange: Exchange,
    route: Route,
    body: dict[str, Any],
    raw: bytes | None,
    headers: Mapping[str, str],
    call: Callable[[Deployment, ProviderRequest], Awaitable[T]],
) -> tuple[T, Deployment]:
    """Run ``call`` on the route's deployments in order until one answers."""
    requested = body.get("model")
    assert isinstance(requested, str)
    watch = _ClientWatch(exchange)
    try:
        return await _call_deployments(exchange, route, body, raw, headers, call, requested)
    except asyncio.CancelledError:
        if not watch.left:
            raise
        handler = asyncio.current_task()
        assert handler is not None
        handler.uncancel()
        raise GatewayError(499, "api_error", "the client closed the connection") from None
    finally:
        watch.stop()


async def _call_deployments(
    exchange: Exchange,
    route: Route,
    body: dict[str, Any],
    raw: bytes | None,
    headers: Mapping[str, str],
    call: Callable[[Deployment, ProviderRequest], Awaitable[T]],
    requested: str,
) -> tuple[T, Deployment]:
    last_error: Exception | None = None
    for deployment in route.deployments:
        upstream_model = deployment.model or requested
        request = ProviderRequest(
            body=body if upstream_model == requested else {**body, "model": upstream_model},
            raw=raw if deployment.native and upstream_model == requested else None,
            headers=dict(headers),
            query=exchange.query,
            request_id=exchange.request_id,
        )
        started = time.perf_counter()
        try:
            answer = await call(deployment, request)
        except (APIConnectionError, APIStatusError) as exc:
            last_error = exc
            if _worth_failing_over(exc):
                continue
            raise
        exchange.upstream_latency = time.perf_counter() - started
        return answer, deployment
    if last_error is None:
        raise GatewayError(503, "api_error", f"model {requested!r} has no deployment")
    raise last_error
