"""Failover across several endpoints (base URLs), with a per-endpoint health read from results.

Strategies decide the order in which one call tries the endpoints:

- ``priority``: the order given.
- ``round_robin``: the order given, rotated by one on every call.
- ``random``: a fresh shuffle per call.
- ``sticky``: the endpoint that last succeeded first, then the order given.

Whatever the strategy, unhealthy endpoints go after the others (they are still tried, last, so a
call is never refused just because everything once failed), and **each endpoint is tried at most
once per call**. An upstream failure (connection error, 408, 429, 5xx, open circuit) moves on to
the next endpoint; any other error is the request's fault and is raised at once.

Health from results: a success makes an endpoint ``healthy``; a failure makes it ``degraded``, and
``unhealthy_after`` consecutive failures make it ``unhealthy``. A ``HealthChecker`` can set it too.
"""

from __future__ import annotations

import enum
import itertools
import random
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, TypeVar

from claudegate.client._breaker import CircuitBreaker, is_upstream_failure
from claudegate.errors import CircuitOpenError, UserError

__all__ = ["Endpoint", "EndpointHealth", "Failover", "FailoverStrategy"]

T = TypeVar("T")
FailoverStrategy = Literal["priority", "round_robin", "random", "sticky"]
_STRATEGIES = ("priority", "round_robin", "random", "sticky")


class EndpointHealth(enum.Enum):
    """How an endpoint looks from its recent results or checks."""

    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(eq=False)
class Endpoint:
    """One place to send calls: a base URL, optionally with its own circuit breaker."""

    base_url: str
    name: str = ""
    breaker: CircuitBreaker | None = None
    health: EndpointHealth = EndpointHealth.UNKNOWN
    consecutive_failures: int = 0
    last_latency: float | None = field(default=None)
    """Seconds the last health check took (set by ``HealthChecker``)."""

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise UserError(f"base_url must start with http:// or https://, not {self.base_url!r}")
        self.base_url = self.base_url.rstrip("/")
        if not self.name:
            self.name = self.base_url


def _endpoints(
    endpoints: Sequence[Endpoint | str], strategy: FailoverStrategy, unhealthy_after: int
) -> tuple[Endpoint, ...]:
    """The endpoints as ``Endpoint`` objects, once the settings are known to be valid."""
    if not endpoints:
        raise UserError("failover needs at least one endpoint", field="endpoints")
    if strategy not in _STRATEGIES:
        raise UserError(f"strategy must be one of {', '.join(_STRATEGIES)}", field="strategy")
    if unhealthy_after < 1:
        raise UserError("unhealthy_after must be >= 1", field="unhealthy_after")
    built = tuple(e if isinstance(e, Endpoint) else Endpoint(e) for e in endpoints)
    if len({e.name for e in built}) != len(built):
        raise UserError("endpoint names must be unique", field="endpoints")
    return built


class Failover:
    """Try one call on several endpoints in turn until one answers.

    >>> failover = Failover(["https://a.example", "https://b.example"], strategy="round_robin")
    >>> message = await failover.call(lambda endpoint: clients[endpoint.name].messages.create(**args))
    """

    def __init__(
        self,
        endpoints: Sequence[Endpoint | str],
        *,
        strategy: FailoverStrategy = "priority",
        unhealthy_after: int = 3,
        rng: random.Random | None = None,
    ) -> None:
        self.endpoints: tuple[Endpoint, ...] = _endpoints(endpoints, strategy, unhealthy_after)
        self.strategy: FailoverStrategy = strategy
        self.unhealthy_after = unhealthy_after
        self._rng = rng or random.Random()
        self._turn = itertools.count()
        self._sticky: Endpoint | None = None
        self._lock = threading.Lock()

    def reconfigure(
        self,
        endpoints: Sequence[Endpoint | str],
        *,
        strategy: FailoverStrategy = "priority",
        unhealthy_after: int = 3,
    ) -> None:
        """Change the endpoints and strategy in place. An endpoint named as before, at the same
        base URL, keeps its ``Endpoint`` (health, failure count, breaker); the others start anew."""
        fresh = _endpoints(endpoints, strategy, unhealthy_after)
        with self._lock:
            kept = {(e.name, e.base_url): e for e in self.endpoints}
            self.endpoints = tuple(kept.get((e.name, e.base_url), e) for e in fresh)
            self.strategy = strategy
            self.unhealthy_after = unhealthy_after
            if self._sticky not in self.endpoints:
                self._sticky = None

    def order(self) -> list[Endpoint]:
        """The endpoints in the order the next call will try them (advances round robin)."""
        with self._lock:
            base = list(self.endpoints)
            if self.strategy == "round_robin":
                shift = next(self._turn) % len(base)
                base = base[shift:] + base[:shift]
            elif self.strategy == "random":
                self._rng.shuffle(base)
            elif self.strategy == "sticky" and self._sticky is not None:
                base.remove(self._sticky)
                base.insert(0, self._sticky)
        # stable: within each group the strategy's order holds
        return sorted(base, key=lambda e: e.health is EndpointHealth.UNHEALTHY)

    def record_success(self, endpoint: Endpoint) -> None:
        """Mark an endpoint healthy after it answered."""
        with self._lock:
            endpoint.consecutive_failures = 0
            endpoint.health = EndpointHealth.HEALTHY
            self._sticky = endpoint

    def record_failure(self, endpoint: Endpoint) -> None:
        """Mark an endpoint degraded, or unhealthy after ``unhealthy_after`` failures in a row."""
        with self._lock:
            endpoint.consecutive_failures += 1
            endpoint.health = (
                EndpointHealth.UNHEALTHY
                if endpoint.consecutive_failures >= self.unhealthy_after
                else EndpointHealth.DEGRADED
            )
            if self._sticky is endpoint:
                self._sticky = None

    def health(self) -> dict[str, EndpointHealth]:
        """Each endpoint's health by name."""
        return {e.name: e.health for e in self.endpoints}

    async def call(self, operation: Callable[[Endpoint], Awaitable[T]]) -> T:
        """Run ``operation(endpoint)`` on each endpoint in turn (each at most once) until one works.

        Raises the last upstream failure when every endpoint failed, or the first error that is
        not an upstream failure. An endpoint whose breaker is open is skipped without a request.
        """
        last_error: Exception | None = None
        for endpoint in self.order():
            breaker = endpoint.breaker
            try:
                if breaker is not None:
                    result = await breaker.call(partial(operation, endpoint))
                else:
                    result = await operation(endpoint)
            except CircuitOpenError as exc:
                last_error = exc
                continue
            except Exception as exc:
                if not is_upstream_failure(exc):
                    raise
                self.record_failure(endpoint)
                last_error = exc
                continue
            self.record_success(endpoint)
            return result
        assert last_error is not None  # the loop ran at least once and did not return
        raise last_error
