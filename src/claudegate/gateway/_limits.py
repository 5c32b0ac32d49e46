"""Rate limits per key: requests, input and output tokens per minute, and concurrent requests.

Tokens are charged at admission from an estimate (input from the request's size, output from its
``max_tokens``) and corrected once the real usage is known (``reserve`` then ``adjust``). A refusal
is a 429 carrying ``retry-after`` and the rate-limit headers of the caller's dialect.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from claudegate.gateway._errors import GatewayError
from claudegate.store import Admission, Counters, RateLimit

__all__ = ["Charge", "Limits", "RateLimiter", "limit_headers"]

_REQUESTS = "requests"
_INPUT = "input_tokens"
_OUTPUT = "output_tokens"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits that apply to one caller; ``None`` means unlimited."""

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None
    concurrent_requests: int | None = None

    @property
    def empty(self) -> bool:
        """Whether nothing is limited (admission then costs nothing)."""
        return (
            self.requests_per_minute is None
            and self.input_tokens_per_minute is None
            and self.output_tokens_per_minute is None
            and self.concurrent_requests is None
        )


@dataclass(slots=True)
class Charge:
    """What one admitted request reserved, to correct or give back once it is done."""

    owner: str
    input_estimate: int = 0
    output_estimate: int = 0
    input_rate: RateLimit | None = None
    output_rate: RateLimit | None = None
    slot: str | None = None
    taken: list[tuple[RateLimit, int]] = field(default_factory=list)
    headers: list[tuple[str, int, int, float]] = field(default_factory=list)
    """``(kind, limit, remaining, reset seconds)`` for the response's rate-limit headers."""


def limit_headers(entries: list[tuple[str, int, int, float]], openai: bool) -> dict[str, str]:
    """Rate-limit headers as Anthropic (``anthropic-ratelimit-*``) or OpenAI (``x-ratelimit-*``) send them."""
    headers: dict[str, str] = {}
    for kind, limit, remaining, reset in entries:
        seconds = reset if math.isfinite(reset) else 60.0
        if openai:
            suffix = kind.replace("_", "-")
            headers[f"x-ratelimit-limit-{suffix}"] = str(limit)
            headers[f"x-ratelimit-remaining-{suffix}"] = str(remaining)
            headers[f"x-ratelimit-reset-{suffix}"] = f"{seconds:.3f}s"
        else:
            name = kind.replace("_", "-")
            headers[f"anthropic-ratelimit-{name}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(remaining)
            headers[f"anthropic-ratelimit-{name}-reset"] = f"{math.ceil(seconds)}"
    return headers


class RateLimiter:
    """Admission against shared ``Counters``; the counters decide across every replica."""

    def __init__(self, counters: Counters, *, lease: float, parallel: bool = False) -> None:
        self.counters = counters
        self._lease = lease
        self.parallel = parallel

    async def admit(
        self, owner: str, limits: Limits, input_tokens: int, output_tokens: int, openai: bool
    ) -> Charge:
        """Reserve this request's share, or raise a 429 (giving back what was already reserved)."""
        charge = Charge(owner=owner)
        if limits.empty:
            return charge
        counters = self.counters
        steps = [
            (kind, limit, amount)
            for kind, limit, amount in (
                (_REQUESTS, limits.requests_per_minute, 1),
                (_INPUT, limits.input_tokens_per_minute, input_tokens),
                (_OUTPUT, limits.output_tokens_per_minute, output_tokens),
            )
            if limit is not None
        ]
        slots = limits.concurrent_requests
        calls: list[Callable[[], Awaitable[Admission]]] = [
            partial(counters.reserve, owner, RateLimit(kind, limit), amount) for kind, limit, amount in steps
        ]
        if slots is not None:
            calls.append(partial(counters.acquire_slot, owner, limit=slots, lease=self._lease))
        if self.parallel and len(calls) > 1:  # one round trip of latency, not one per limit
            answers = list(await asyncio.gather(*(call() for call in calls)))
        else:
            answers = [await call() for call in calls]
        refused: tuple[str, int, Admission] | None = None
        taken = charge.taken
        for (kind, limit, amount), answer in zip(steps, answers, strict=False):
            charge.headers.append((kind, limit, answer.remaining, answer.retry_after))
            if not answer.allowed:
                refused = refused or (kind, limit, answer)
                continue
            rate = RateLimit(kind, limit)
            taken.append((rate, amount))
            if kind == _INPUT:
                charge.input_rate, charge.input_estimate = rate, amount
            elif kind == _OUTPUT:
                charge.output_rate, charge.output_estimate = rate, amount
        if slots is not None:
            answer = answers[-1]
            if answer.allowed:
                charge.slot = answer.slot
            else:
                refused = refused or ("concurrent_requests", slots, answer)
        if refused is not None:
            await self.refund(charge)
            raise self._refusal(*refused, charge, openai)
        return charge

    async def refund(self, charge: Charge) -> None:
        """Give back everything ``charge`` holds (the request will not run)."""
        owner, counters = charge.owner, self.counters
        calls: list[Callable[[], Awaitable[None]]] = [
            partial(counters.adjust, owner, rate, -amount) for rate, amount in charge.taken
        ]
        if charge.slot is not None and charge.slot != "unshared":
            calls.append(partial(counters.release_slot, owner, charge.slot))
        await self._all(calls)
        charge.taken.clear()
        charge.slot = None

    async def _all(self, calls: list[Callable[[], Awaitable[None]]]) -> None:
        if self.parallel and len(calls) > 1:
            await asyncio.gather(*(call() for call in calls))
        else:
            for call in calls:
                await call()

    @staticmethod
    def _refusal(kind: str, limit: int, answer: Admission, charge: Charge, openai: bool) -> GatewayError:
        wait = answer.retry_after if math.isfinite(answer.retry_after) else 60.0
        headers = limit_headers(charge.headers, openai)
        headers["retry-after"] = str(max(1, math.ceil(wait)))
        what = kind.replace("_", " ")
        if answer.degraded:
            message = f"rate limit check unavailable ({what}); the shared counters cannot be reached"
        elif kind == "concurrent_requests":
            message = f"too many concurrent requests for this key (limit {limit})"
        else:
            message = f"rate limit exceeded: {what} per minute (limit {limit}); retry in {math.ceil(wait)} s"
        return GatewayError(429, "rate_limit_error", message, headers=headers)

    async def settle(self, charge: Charge, input_tokens: int, output_tokens: int) -> None:
        """Correct the token estimates by the real usage and free the concurrency slot."""
        counters = self.counters
        owner = charge.owner
        calls: list[Callable[[], Awaitable[None]]] = []
        if charge.slot is not None and charge.slot != "unshared":
            calls.append(partial(counters.release_slot, owner, charge.slot))
        if charge.input_rate is not None and input_tokens != charge.input_estimate:
            calls.append(
                partial(counters.adjust, owner, charge.input_rate, input_tokens - charge.input_estimate)
            )
        if charge.output_rate is not None and output_tokens != charge.output_estimate:
            calls.append(
                partial(counters.adjust, owner, charge.output_rate, output_tokens - charge.output_estimate)
            )
        await self._all(calls)
