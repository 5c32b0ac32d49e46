"""Rate limits per key: requests, input and output tokens per minute, and concurrent requests.

Deployments may have limits of their own (``DeploymentLimits``): a deployment over its limit is
skipped like one that answered 429, and the next one is tried.

Tokens are charged at admission from an estimate (input from the request's size, output from its
``max_tokens``) and corrected once the real usage is known (``reserve`` then ``adjust``). A refusal
is a 429 carrying ``retry-after`` and the rate-limit headers of the caller's dialect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from claudegate.gateway.core._budget import budget_refusal
from claudegate.gateway.core._errors import GatewayError
from claudegate.store import Admission, Counters, MemoryCounters, RateLimit

if TYPE_CHECKING:
    from claudegate.store import KeyBudget

if TYPE_CHECKING:
    from claudegate.gateway._config import DeploymentConfig, GatewayConfig, LimitSpec

__all__ = [
    "Charge",
    "DeploymentLimits",
    "Limits",
    "NeverAdmitted",
    "RateLimiter",
    "build_deployment_limits",
    "limit_headers",
]

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
        self.parallel = parallel  # kept for callers that tell shared counters apart
        self._plans: dict[Limits, tuple[RateLimit, ...]] = {}

    async def admit(
        self,
        owner: str,
        limits: Limits,
        input_tokens: int,
        output_tokens: int,
        openai: bool,
        budget: KeyBudget | None = None,
    ) -> Charge:
        """Reserve this request's share in one atomic step, or raise a 429 (a spent budget first)."""
        charge = Charge(owner=owner)
        caps = None
        if budget is not None and (budget.cost_per_day is not None or budget.cost_per_month is not None):
            caps = (budget.cost_per_day, budget.cost_per_month)
        if limits.empty and caps is None:
            return charge
        rates = self._rates(limits)
        amounts = {_REQUESTS: 1, _INPUT: input_tokens, _OUTPUT: output_tokens}
        steps = [(rate.name, rate, amounts[rate.name]) for rate in rates]
        _check_fits(steps)
        slots = limits.concurrent_requests
        batch = await self.counters.admit(
            owner, [(rate, amount) for _, rate, amount in steps], slots=slots, lease=self._lease, budget=caps
        )
        refused: tuple[str, int, Admission] | None = None
        for (kind, rate, amount), answer in zip(steps, batch.rates, strict=True):
            charge.headers.append((kind, rate.limit, answer.remaining, answer.retry_after))
            if not answer.allowed:
                refused = refused or (kind, rate.limit, answer)
            elif batch.allowed:
                charge.taken.append((rate, amount))
                if kind == _INPUT:
                    charge.input_rate, charge.input_estimate = rate, amount
                elif kind == _OUTPUT:
                    charge.output_rate, charge.output_estimate = rate, amount
        if batch.slot is not None:
            if not batch.slot.allowed:
                refused = refused or ("concurrent_requests", slots or 0, batch.slot)
            elif batch.allowed:
                charge.slot = batch.slot.slot
        if batch.allowed:
            return charge
        if caps is not None and batch.spend is not None:
            over = budget_refusal(batch.spend, *caps)
            if over is not None:
                raise over
        if refused is None:  # a refusal the counters report without naming it (a degraded store)
            refused = ("requests", 0, Admission(allowed=False, remaining=0, retry_after=1.0, degraded=True))
        raise self._refusal(*refused, charge, openai)

    def _rates(self, limits: Limits) -> tuple[RateLimit, ...]:
        rates = self._plans.get(limits)
        if rates is None:  # built once per distinct set of limits, not per request
            if len(self._plans) > 10_000:
                self._plans.clear()
            rates = self._plans[limits] = tuple(
                RateLimit(kind, limit)
                for kind, limit in (
                    (_REQUESTS, limits.requests_per_minute),
                    (_INPUT, limits.input_tokens_per_minute),
                    (_OUTPUT, limits.output_tokens_per_minute),
                )
                if limit is not None
            )
        return rates

    async def refund(self, charge: Charge) -> None:
        """Give back everything ``charge`` holds (the request will not run)."""
        slot = charge.slot if charge.slot != "unshared" else None
        if charge.taken or slot is not None:
            await self.counters.settle(
                charge.owner, [(rate, -amount) for rate, amount in charge.taken], slot=slot
            )
        charge.taken.clear()
        charge.slot = None

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

    async def settle(
        self,
        charge: Charge,
        input_tokens: int,
        output_tokens: int,
        *,
        cost: float = 0.0,
    ) -> None:
        """Correct the token estimates by the real usage, free the slot and add ``cost`` to the spend."""
        slot = charge.slot if charge.slot != "unshared" else None
        adjustments: list[tuple[RateLimit, int]] = []
        if charge.input_rate is not None and input_tokens != charge.input_estimate:
            adjustments.append((charge.input_rate, input_tokens - charge.input_estimate))
        if charge.output_rate is not None and output_tokens != charge.output_estimate:
            adjustments.append((charge.output_rate, output_tokens - charge.output_estimate))
        cost = max(cost, 0.0)
        if slot is not None or adjustments or cost:
            await self.counters.settle(charge.owner, adjustments, slot=slot, cost=cost)


def _check_fits(steps: list[tuple[str, RateLimit, int]]) -> None:
    for kind, rate, amount in steps:
        if kind != _REQUESTS and amount > rate.limit:
            raise NeverAdmitted(kind, amount, rate.limit)


class NeverAdmitted(GatewayError):
    """A request larger than a per-minute token limit: no wait would admit it, so it is refused at
    once and for good (400, ``x-should-retry: false``), naming the limit."""

    def __init__(self, kind: str, amount: int, limit: int) -> None:
        if kind == _OUTPUT:
            what = f"max_tokens ({amount})"
            param = "max_tokens"
        else:
            what = f"the request's estimated input ({amount} tokens)"
            param = "messages"
        super().__init__(
            400,
            "invalid_request_error",
            f"{what} is more than the limit of {limit} {kind.replace('_', ' ')} per minute: "
            "this request can never be admitted; make it smaller",
            param,
            headers={"x-should-retry": "false"},
        )


def _of_spec(spec: LimitSpec) -> Limits:
    return Limits(
        requests_per_minute=spec.requests_per_minute,
        input_tokens_per_minute=spec.input_tokens_per_minute,
        output_tokens_per_minute=spec.output_tokens_per_minute,
        concurrent_requests=spec.concurrent_requests,
    )


class DeploymentLimits:
    """The deployments' own limits, admitted against in-process counters or the shared ones."""

    def __init__(self, limits: dict[str, Limits], counters: Counters | None = None, *, lease: float) -> None:
        self.limits = limits
        self.limiter = RateLimiter(counters or MemoryCounters(), lease=lease)

    def of(self, deployment: str) -> Limits | None:
        """The limits of the deployment labelled ``deployment``, or ``None`` when it has none."""
        return self.limits.get(deployment)

    async def admit(
        self, deployment: str, limits: Limits, input_tokens: int, output_tokens: int
    ) -> Charge | float:
        """A charge on the deployment's counters, or the seconds until it may be asked again."""
        try:
            return await self.limiter.admit(
                "deployment:" + deployment, limits, input_tokens, output_tokens, False
            )
        except NeverAdmitted:
            return math.inf
        except GatewayError as refusal:
            return float(refusal.headers.get("retry-after", "1"))

    async def refund(self, charge: Charge) -> None:
        """Give the charge back: the deployment did not serve the request."""
        await self.limiter.refund(charge)

    async def settle(self, charge: Charge, input_tokens: int, output_tokens: int) -> None:
        """Correct the token estimates by the real usage and free the concurrency slot."""
        await self.limiter.settle(charge, input_tokens, output_tokens)


def _label(route: str, deployment: DeploymentConfig, index: int) -> str:
    # The router's label: deployment names key breakers, health and these counters alike.
    return deployment.name or f"{deployment.provider}/{deployment.model or route}#{index}"


def build_deployment_limits(
    config: GatewayConfig, counters: Counters | None = None
) -> DeploymentLimits | None:
    """The limits of ``config``'s deployments (``None``: none has any).

    ``counters`` are the shared ones when replicas share them; without, each process counts alone.
    """
    limits: dict[str, Limits] = {}
    for route_config in config.models:
        for index, deployment in enumerate(route_config.deployments):
            if deployment.limits is not None and not _of_spec(deployment.limits).empty:
                limits[_label(route_config.name, deployment, index)] = _of_spec(deployment.limits)
    if not limits:
        return None
    return DeploymentLimits(limits, counters, lease=(config.gateway.timeouts.total or 600.0) + 60.0)
