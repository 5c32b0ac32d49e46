"""Calling a route's deployments: build each upstream request, fail over before the first byte.

Deployments are tried in the route's strategy order, each at most once per pass; the next one is
tried only when the failure happened before any byte reached the client and is worth another
upstream (no answer at all, 429, 5xx). A deployment whose circuit is open is skipped without a
call. A deployment over its own rate limits is skipped like one that answered 429; when every
deployment is, the caller gets a 429 with ``retry-after``. With a route ``retry`` policy, a pass
in which every deployment failed is followed, after the policy's wait (``retry-after`` honoured),
by another pass, up to ``max_retries`` more.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson

from claudegate.client import RetryPolicy
from claudegate.errors import APIConnectionError, APIStatusError
from claudegate.gateway._errors import GatewayError
from claudegate.gateway._http import Exchange
from claudegate.gateway._limits import Charge, DeploymentLimits, deployment_limits
from claudegate.gateway._resilience import route_policy
from claudegate.gateway._router import Deployment, Route
from claudegate.gateway._usage import USAGE_KEY
from claudegate.providers import ProviderRequest, ProviderResponse, ProviderStream

__all__ = ["FORWARDED_HEADERS", "call_route", "forwarded_headers", "sticky_key"]

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


def _worth_retrying(policy: RetryPolicy, exc: Exception) -> bool:
    if isinstance(exc, APIStatusError):
        return policy.should_retry_status(exc.status_code, exc.headers)
    return isinstance(exc, APIConnectionError) and policy.retry_connection_errors


def _describe(exc: Exception) -> str:
    """A short, secret-free account of a failure for /health/deployments."""
    if isinstance(exc, APIStatusError):
        return f"{exc.status_code} {exc.type or 'error'}"
    return type(exc).__name__


def sticky_key(exchange: Exchange, body: Mapping[str, Any]) -> str | None:
    """What keeps a client on one deployment: its session (``metadata.user_id`` or
    ``x-session-id``), else a digest of its credential (the credential itself is never kept)."""
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user, str) and user:
        return "user:" + user
    session = exchange.header(b"x-session-id")
    if session:
        return "session:" + session
    credential = exchange.headers.get(b"x-api-key") or exchange.headers.get(b"authorization")
    if credential:
        return "key:" + hashlib.sha256(credential).hexdigest()
    return None


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
    policy = route_policy(route)
    retry = policy.retry
    last_error: Exception | None = None
    refused: list[float] = []
    limited: list[float] = []
    limiter = deployment_limits(route)
    for attempt in itertools.count():
        if attempt:  # every deployment failed: wait as the retry policy says, then another pass
            assert retry is not None
            headers_of_last = last_error.headers if isinstance(last_error, APIStatusError) else None
            await asyncio.sleep(retry.delay(attempt - 1, headers_of_last))
        refused.clear()
        limited.clear()
        order = policy.order(
            route.deployments, sticky_key(exchange, body) if policy.strategy == "sticky" else None
        )
        for deployment in order:
            guard = policy.guard(deployment)
            wait = await guard.admit()
            if wait is not None:  # an open circuit: skip it without a call
                refused.append(wait)
                continue
            held = await _Held.admit(limiter, deployment, body, raw) if limiter is not None else None
            if isinstance(held, float):  # over its own limits: like a 429 from it
                limited.append(held)
                guard.abandoned()
                continue
            started = time.perf_counter()
            try:
                answer = await call(deployment, _request(exchange, deployment, body, raw, headers, requested))
            except (APIConnectionError, APIStatusError) as exc:
                guard.failed(exc, _describe(exc))
                last_error = exc
                if held is not None:
                    await held.refund()
                if _worth_failing_over(exc):
                    continue
                raise
            except BaseException:
                guard.abandoned()
                if held is not None:
                    await asyncio.shield(held.refund())
                raise
            exchange.upstream_latency = time.perf_counter() - started
            guard.succeeded(exchange.upstream_latency)
            if held is not None:
                held.settle_when_done(exchange)
            return answer, deployment
        if retry is None or attempt >= retry.max_retries or last_error is None:
            break
        if not _worth_retrying(retry, last_error):
            break
    raise _exhausted(requested, last_error, refused, limited)


def _exhausted(
    requested: str, last_error: Exception | None, refused: list[float], limited: list[float]
) -> Exception:
    """Why no deployment answered: the last upstream error, else every one at its limit or open."""
    if last_error is not None:
        return last_error
    if limited:
        wait = max(1, math.ceil(min(limited)))
        return GatewayError(
            429,
            "rate_limit_error",
            f"every deployment of model {requested!r} is at its rate limit; retry in {wait} s",
            headers={"retry-after": str(wait)},
        )
    if refused:
        wait = math.ceil(min(refused))
        return GatewayError(
            503,
            "overloaded_error",
            f"every deployment of model {requested!r} is unavailable (circuit open); retry in {wait} s",
            headers={"retry-after": str(max(wait, 1))},
        )
    return GatewayError(503, "api_error", f"model {requested!r} has no deployment")


def _request(
    exchange: Exchange,
    deployment: Deployment,
    body: dict[str, Any],
    raw: bytes | None,
    headers: Mapping[str, str],
    requested: str,
) -> ProviderRequest:
    upstream_model = deployment.model or requested
    return ProviderRequest(
        body=body if upstream_model == requested else {**body, "model": upstream_model},
        raw=raw if deployment.native and upstream_model == requested else None,
        headers=dict(headers),
        query=exchange.query,
        request_id=exchange.request_id,
    )


def _estimate(body: Mapping[str, Any], raw: bytes | None) -> tuple[int, int]:
    """Tokens charged before the answer is known: input from the body's size, output its cap."""
    size = len(raw) if raw is not None else len(orjson.dumps(body))
    cap = body.get("max_tokens")
    return max(1, math.ceil(size / 3)), cap if isinstance(cap, int) and cap > 0 else 1


def _tokens(usage: Mapping[str, Any], *names: str) -> int:
    return sum(value for name in names if isinstance(value := usage.get(name), int))


_SETTLING: set[asyncio.Task[None]] = set()


class _Held:
    """What one call holds of its deployment's limits, until the answer is sent."""

    __slots__ = ("charge", "estimate", "limiter")

    def __init__(self, limiter: DeploymentLimits, charge: Charge, estimate: tuple[int, int]) -> None:
        self.limiter = limiter
        self.charge = charge
        self.estimate = estimate

    @classmethod
    async def admit(
        cls, limiter: DeploymentLimits, deployment: Deployment, body: Mapping[str, Any], raw: bytes | None
    ) -> _Held | float | None:
        """The held charge, the seconds until the deployment admits again, or None (no limits)."""
        limits = limiter.of(deployment.name)
        if limits is None:
            return None
        estimate = _estimate(body, raw)
        admitted = await limiter.admit(deployment.name, limits, *estimate)
        return cls(limiter, admitted, estimate) if isinstance(admitted, Charge) else admitted

    async def refund(self) -> None:
        await self.limiter.refund(self.charge)

    def settle_when_done(self, exchange: Exchange) -> None:
        """Hold the slot until the whole answer is sent (a stream outlives the call), then correct
        the token charge by the usage the handler recorded."""
        handler = asyncio.current_task()
        assert handler is not None

        async def settle() -> None:
            usage: Mapping[str, Any] = exchange.scope.get(USAGE_KEY) or {}
            used = self.estimate  # nothing reported: the estimate stands
            if usage:
                used = (
                    _tokens(usage, "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"),
                    _tokens(usage, "output_tokens"),
                )
            await self.limiter.settle(self.charge, *used)

        def done(_: asyncio.Task[Any]) -> None:
            task = asyncio.get_running_loop().create_task(settle())
            _SETTLING.add(task)
            task.add_done_callback(_SETTLING.discard)

        handler.add_done_callback(done)
