"""Calling a route's deployments: build each upstream request, fail over before the first byte.

Deployments are tried in the route's strategy order, each at most once per pass; the next one is
tried only when the failure happened before any byte reached the client and is worth another
upstream (no answer at all, 429, 423 "busy", 5xx). A deployment whose circuit is open is skipped without a
call. A deployment over its own rate limits is skipped like one that answered 429; when every
deployment is, the caller gets a 429 with ``retry-after``. With a route ``retry`` policy, a pass
in which every deployment failed is followed, after the policy's wait (``retry-after`` honoured),
by another pass, up to ``max_retries`` more.

An OpenAI client's request (``call.chat``) goes to OpenAI-speaking deployments as its own bytes
(see ``_chat_passthrough``); when it has no canonical translation, the other deployments are
passed over, and a 400 naming the field answers when none of the OpenAI-speaking ones could.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from claudegate.client import RetryPolicy
from claudegate.errors import APIConnectionError, APIStatusError
from claudegate.gateway.core._call import Call
from claudegate.gateway.core._errors import GatewayError
from claudegate.gateway.core._limits import Charge, DeploymentLimits
from claudegate.gateway.core._router import Deployment, Route
from claudegate.gateway.core._tracing import Tracing, provider_name
from claudegate.gateway.core._usage import token_counts
from claudegate.providers import ProviderRequest, ProviderResponse, ProviderStream

__all__ = ["Held", "Upstream", "call_deployments"]

T = TypeVar("T", ProviderResponse, ProviderStream)
Upstream = Callable[[Deployment, ProviderRequest], Awaitable[T]]


_BUSY = (423, 429)  # 423: an upstream saying it is busy (Salesforce's Models API), like a 429


def _worth_failing_over(exc: Exception) -> bool:
    if isinstance(exc, APIConnectionError):
        return True
    return isinstance(exc, APIStatusError) and (exc.status_code in _BUSY or exc.status_code >= 500)


def _worth_retrying(policy: RetryPolicy, exc: Exception) -> bool:
    if isinstance(exc, APIStatusError):
        status = 429 if exc.status_code == 423 else exc.status_code
        return policy.should_retry_status(status, exc.headers)
    return isinstance(exc, APIConnectionError) and policy.retry_connection_errors


def _describe(exc: Exception) -> str:
    """A short, secret-free account of a failure for /health/deployments."""
    if isinstance(exc, APIStatusError):
        return f"{exc.status_code} {exc.type or 'error'}"
    return type(exc).__name__


class Held:
    """What one call holds of its deployment's limits until the answer is complete."""

    __slots__ = ("charge", "estimate", "limiter")

    def __init__(self, limiter: DeploymentLimits, charge: Charge, estimate: tuple[int, int]) -> None:
        self.limiter = limiter
        self.charge = charge
        self.estimate = estimate

    @classmethod
    async def admit(
        cls, limiter: DeploymentLimits, deployment: Deployment, estimate: tuple[int, int]
    ) -> Held | float | None:
        """The held charge, the seconds until the deployment admits again, or None (no limits)."""
        limits = limiter.of(deployment.name)
        if limits is None:
            return None
        admitted = await limiter.admit(deployment.name, limits, *estimate)
        return cls(limiter, admitted, estimate) if isinstance(admitted, Charge) else admitted

    async def refund(self) -> None:
        await self.limiter.refund(self.charge)

    async def settle(self, usage: dict[str, Any]) -> None:
        """Free the slot and correct the token charge by the real usage (the estimate without)."""
        await self.limiter.settle(self.charge, *(token_counts(usage) if usage else self.estimate))


async def call_deployments(
    call: Call,
    route: Route,
    upstream: Upstream[T],
    estimate: tuple[int, int],
    request: dict[str, Any] | None = None,
    *,
    tracing: Tracing | None = None,
) -> tuple[T, Held | None]:
    """Run ``upstream`` on the route's deployments in order until one answers.

    Records the attempts, the answering deployment and its latency on ``call.outcome``; each
    attempt has its span when the call has one.
    """
    attempt_upstream = upstream if tracing is None or call.span is None else _traced(tracing, call, upstream)
    body = request if request is not None else call.request
    requested = call.model
    outcome = call.outcome
    policy = route.policy
    retry = policy.retry
    last_error: Exception | None = None
    refused: list[float] = []
    limited: list[float] = []
    limiter = route.limits
    chat = call.chat
    untranslatable = chat if chat is not None and chat.untranslatable is not None else None
    skipped: str | None = None
    for attempt in itertools.count():
        if attempt:  # every deployment failed: wait as the retry policy says, then another pass
            assert retry is not None
            headers_of_last = last_error.headers if isinstance(last_error, APIStatusError) else None
            await asyncio.sleep(retry.delay(attempt - 1, headers_of_last))
        refused.clear()
        limited.clear()
        order = policy.order(route.deployments, call.sticky_key() if policy.strategy == "sticky" else None)
        for deployment in order:
            if untranslatable is not None and deployment.provider.kind != "openai":
                skipped = deployment.name  # it would need the translation this request cannot have
                continue
            guard = policy.guard(deployment)
            wait = await guard.admit()
            if wait is not None:  # an open circuit: skip it without a call
                refused.append(wait)
                continue
            held = await Held.admit(limiter, deployment, estimate) if limiter is not None else None
            if isinstance(held, float):  # over its own limits: like a 429 from it
                limited.append(held)
                guard.abandoned()
                continue
            outcome.attempts += 1
            outcome.deployment = deployment.name
            upstream_request = _request(call, deployment, body, requested)
            started = time.perf_counter()
            try:
                answer = await attempt_upstream(deployment, upstream_request)
            except (APIConnectionError, APIStatusError) as exc:
                outcome.upstream_latency = time.perf_counter() - started
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
            outcome.upstream_latency = time.perf_counter() - started
            guard.succeeded(outcome.upstream_latency)
            return answer, held
        if retry is None or attempt >= retry.max_retries or last_error is None:
            break
        if not _worth_retrying(retry, last_error):
            break
    if untranslatable is not None and skipped and last_error is None and not (limited or refused):
        raise untranslatable.refusal(skipped)
    raise _exhausted(requested, last_error, refused, limited)


def _traced(tracing: Tracing, call: Call, upstream: Upstream[T]) -> Upstream[T]:
    """``upstream`` with a span per attempt: its status, error type and (whole answers) usage."""

    async def attempt(deployment: Deployment, request: ProviderRequest) -> T:
        call.outcome.provider = provider_name(deployment.provider.kind)
        model = request.body.get("model")
        span = tracing.start_attempt(call, deployment, str(model or call.model), request.headers)
        if span is None:
            return await upstream(deployment, request)
        try:
            answer = await upstream(deployment, request)
        except APIStatusError as exc:
            Tracing.end_attempt(span, exc.status_code, exc.type or "api_error")
            raise
        except BaseException as exc:
            Tracing.end_attempt(span, 0, type(exc).__name__)
            raise
        usage = answer.message.get("usage") if isinstance(answer, ProviderResponse) else None
        Tracing.end_attempt(span, 200, None, usage)
        return answer

    return attempt


def _exhausted(
    requested: str, last_error: Exception | None, refused: list[float], limited: list[float]
) -> Exception:
    """Why no deployment answered: the last upstream error, else every one at its limit or open."""
    if last_error is not None:
        return last_error
    waits = [wait for wait in limited if math.isfinite(wait)]
    if limited and not waits and not refused:  # every deployment is too small for it, for good
        return GatewayError(
            400,
            "invalid_request_error",
            f"the request is larger than every deployment of model {requested!r} admits in a minute; "
            "it can never be served: make it smaller (max_tokens, messages)",
            "max_tokens",
            headers={"x-should-retry": "false"},
        )
    if waits:
        wait = max(1, math.ceil(min(waits)))
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


def _request(call: Call, deployment: Deployment, body: dict[str, Any], requested: str) -> ProviderRequest:
    upstream_model = deployment.model or requested
    same = upstream_model == requested
    chat = call.chat if deployment.provider.kind == "openai" else None
    return ProviderRequest(
        body=body if same else {**body, "model": upstream_model},
        raw=call.raw if deployment.native and same and body is call.request else None,
        headers=dict(call.headers),
        query=call.query,
        request_id=call.request_id,
        chat=chat.content(upstream_model) if chat is not None else None,
    )
