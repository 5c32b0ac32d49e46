"""Reliability: quota, rate limit, failover, circuit breaker and compression as one pipeline.

A call sent through a ``Reliability`` passes the enabled stages in this fixed order. A stage that
refuses ends the call there: no later stage runs and nothing is sent.

1. **quota** (``QuotaManager.check``): for ``POST .../v1/messages`` calls, by the body's
   ``model`` and its estimated input tokens; refuses with ``QuotaExceededError``.
2. **rate limiter** (``RateLimiter.acquire``): once per call, with the same token estimate;
   waits, or refuses with ``QuotaExceededError``.
3. **failover** (``Failover``): picks the endpoint to try; without it, the client's base URL.
4. **circuit breaker**: that endpoint's own breaker, else the shared ``breaker``; an open
   circuit refuses with ``CircuitOpenError`` (and failover moves on to the next endpoint).
5. **compression** (``Compression.apply``): the body gzipped when it is large enough.
6. **send** with the call's retry policy. Retries stay on the chosen endpoint; failover moves on
   only once they are spent on an upstream failure (connection error, 408, 429, 5xx), and tries
   each endpoint at most once per call. Other errors are the request's fault and end the call.
7. **record**: the outcome (breaker) and the endpoint's health (failover) as each endpoint
   answers, then the usage (quota) of a call that succeeded: from the JSON answer's ``usage``, or
   for a stream from its final usage (``message_start`` and ``message_delta``, tapped by the
   stream's accumulator) once the stream ends or is closed.

A stream is admitted exactly like any other call, before its first byte: once its headers have
arrived it is a success for the breaker and failover, whatever happens to it later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import orjson

from claudegate.client._breaker import CircuitBreaker
from claudegate.client._compression import Compression
from claudegate.client._failover import Endpoint, Failover
from claudegate.client._limiter import RateLimiter, estimate_input_tokens
from claudegate.client._quota import QuotaManager
from claudegate.client._transport import Request, Response
from claudegate.errors import UserError

__all__ = ["Reliability", "Transmit", "UsageRecorder"]

Transmit = Callable[[Request], Awaitable[Response]]
"""Sends one request with the call's retry policy and returns a 2xx response (the client's job)."""
UsageRecorder = Callable[[Mapping[str, Any] | None], object]
"""Records a finished call's usage object (None when the answer carried none)."""

_METERED_PATH = "/v1/messages"


def _metered_model(request: Request) -> str | None:
    """The model a message-creating call names; None for every other call (not metered)."""
    if request.method != "POST" or not urlsplit(request.url).path.endswith(_METERED_PATH):
        return None
    if not request.content or "content-encoding" in request.headers:
        return None
    try:
        body = orjson.loads(request.content)
    except orjson.JSONDecodeError:
        return None
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


class Reliability:
    """Opt-in reliability for a client or one call, applied in a fixed order (see the module).

    >>> reliability = Reliability(
    ...     quota=QuotaManager([QuotaLimit("cost", "day", 5.0)]),
    ...     limiter=RateLimiter(requests_per_second=5, max_wait=2.0),
    ...     failover=Failover(["https://a.example", "https://b.example"]),
    ...     breaker=CircuitBreaker(failure_threshold=3),
    ... )
    >>> client = AsyncClient(reliability=reliability, retry=RetryPolicy())
    >>> await client.messages.create(..., reliability=None)      # this call only: none of it

    One ``Reliability`` may serve several clients and tasks: every stage is safe to share.
    """

    def __init__(
        self,
        *,
        quota: QuotaManager | None = None,
        limiter: RateLimiter | None = None,
        failover: Failover | None = None,
        breaker: CircuitBreaker | None = None,
        compression: Compression | None = None,
    ) -> None:
        self.quota = quota
        self.limiter = limiter
        self.failover = failover
        self.breaker = breaker
        self.compression = compression

    def __repr__(self) -> str:
        stages = ", ".join(
            f"{name}={value!r}"
            for name, value in (
                ("quota", self.quota),
                ("limiter", self.limiter),
                ("failover", self.failover),
                ("breaker", self.breaker),
                ("compression", self.compression),
            )
            if value is not None
        )
        return f"Reliability({stages})"

    async def send(self, request: Request, transmit: Transmit, *, base_url: str) -> Response:
        """Send ``request`` (built against ``base_url``) through every enabled stage, in order.

        Raises what the refusing stage raises (``QuotaExceededError``, ``CircuitOpenError``) or
        what the last attempt raised. Usage of a streamed call is not recorded here: see
        ``usage_recorder``.
        """
        model = _metered_model(request)
        tokens = estimate_input_tokens(request.content)
        if self.quota is not None and model is not None:
            self.quota.check(model, estimated_tokens=tokens)
        if self.limiter is not None:
            await self.limiter.acquire(tokens)
        if self.failover is not None:
            if not request.url.startswith(base_url):
                raise UserError(
                    f"failover needs requests built on the client's base_url {base_url!r}, "
                    f"not {request.url!r}",
                    field="failover",
                )
            on_endpoint = partial(self._on_endpoint, request, request.url[len(base_url) :], transmit)
            response = await self.failover.call(on_endpoint)
        elif self.breaker is not None:
            response = await self.breaker.call(partial(self._compress_and_send, request, transmit))
        else:
            response = await self._compress_and_send(request, transmit)
        if self.quota is not None and model is not None and not request.stream:
            self.quota.record(model, await _usage_of(response))
        return response

    def usage_recorder(self, request: Request) -> UsageRecorder | None:
        """For a streamed call: what records its final usage; None when no quota meters it."""
        model = _metered_model(request)
        if self.quota is None or model is None:
            return None
        return partial(self.quota.record, model)

    async def _on_endpoint(
        self, request: Request, path: str, transmit: Transmit, endpoint: Endpoint
    ) -> Response:
        routed = dataclasses.replace(request, url=endpoint.base_url + path)
        # Failover itself runs the endpoint's own breaker; the shared one stands in when it has none.
        if endpoint.breaker is None and self.breaker is not None:
            return await self.breaker.call(partial(self._compress_and_send, routed, transmit))
        return await self._compress_and_send(routed, transmit)

    async def _compress_and_send(self, request: Request, transmit: Transmit) -> Response:
        if self.compression is not None:
            request = self.compression.apply(request)
        return await transmit(request)


async def _usage_of(response: Response) -> Mapping[str, Any] | None:
    """The ``usage`` object of a JSON answer (its body stays readable: transports keep it)."""
    try:
        data = orjson.loads(await response.aread())
    except orjson.JSONDecodeError:
        return None
    usage = data.get("usage") if isinstance(data, dict) else None
    return usage if isinstance(usage, dict) else None
