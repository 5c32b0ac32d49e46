"""On-demand health checks of endpoints: one cheap call each, all at once, and a summary.

Three strategies, from the deepest to the cheapest:

- ``models`` (default): ``GET /v1/models?limit=1`` with the key. It proves the key works and the
  API answers, touches no model and costs nothing. Any error status fails the check.
- ``head``: ``HEAD`` on the base URL (or ``path``), a ping: no key is sent and no body comes back.
- ``options``: ``OPTIONS`` on the base URL (or ``path``), the lightest request an HTTP API answers.

``head`` and ``options`` check that the server is up, not that a key works: an answer passes
unless it is a status that says the upstream is unwell (408, 429, 5xx), so a 401 or 404 from a
live server is still a pass. A connection error or no answer within ``timeout`` fails any check.

A check that passes in more than ``degraded_latency`` seconds is slow. Thresholds, per endpoint:
``unhealthy_after`` failed checks in a row make it ``unhealthy`` (fewer make it ``degraded``), and
only ``healthy_after`` passed checks in a row bring it back to ``healthy`` (``degraded`` when
slow); until then an unhealthy endpoint stays unhealthy and any other is ``degraded``. Both
default to 1: each check decides alone. Checks run concurrently; nothing runs unless ``check`` is
called, and no connection stays open between checks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from claudegate._version import __version__
from claudegate.client._breaker import is_failure_status
from claudegate.client._client import AsyncClient
from claudegate.client._failover import Endpoint, EndpointHealth, Failover
from claudegate.client._params import ClientOptions
from claudegate.client._secrets import ApiKey
from claudegate.client._timeouts import Timeout
from claudegate.client._transport import AiohttpTransport, AsyncTransport, Request
from claudegate.errors import APIStatusError, ClaudegateError, UserError

__all__ = ["EndpointCheck", "HealthChecker", "HealthStrategy", "HealthSummary"]

HealthStrategy = Literal["models", "head", "options"]
_STRATEGIES = ("models", "head", "options")


@dataclass(frozen=True, slots=True)
class EndpointCheck:
    """The result of checking one endpoint."""

    name: str
    base_url: str
    health: EndpointHealth
    latency: float
    """Seconds until the answer (or until giving up)."""
    error: str | None = None
    status_code: int | None = None
    """The HTTP status answered (None when nothing was)."""
    successes: int = 0
    """Checks passed in a row, this one included."""
    failures: int = 0
    """Checks failed in a row, this one included."""


@dataclass(frozen=True, slots=True)
class HealthSummary:
    """All endpoints' results, with counts and an overall verdict."""

    checks: tuple[EndpointCheck, ...]

    def count(self, health: EndpointHealth) -> int:
        """How many endpoints are in ``health``."""
        return sum(1 for check in self.checks if check.health is health)

    @property
    def status(self) -> EndpointHealth:
        """``healthy`` when all are, ``unhealthy`` when none answered well, else ``degraded``."""
        if not self.checks:
            return EndpointHealth.UNKNOWN
        if all(c.health is EndpointHealth.HEALTHY for c in self.checks):
            return EndpointHealth.HEALTHY
        if all(c.health is EndpointHealth.UNHEALTHY for c in self.checks):
            return EndpointHealth.UNHEALTHY
        return EndpointHealth.DEGRADED

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form for health pages and logs."""
        return {
            "status": self.status.value,
            "counts": {h.value: self.count(h) for h in EndpointHealth if h is not EndpointHealth.UNKNOWN},
            "endpoints": [
                {
                    "name": c.name,
                    "base_url": c.base_url,
                    "health": c.health.value,
                    "latency_ms": round(c.latency * 1000, 1),
                    "status_code": c.status_code,
                    "error": c.error,
                }
                for c in self.checks
            ],
        }


class HealthChecker:
    """Check endpoints on demand.

    >>> checker = HealthChecker(["https://a.example", "https://b.example"], api_key=key)
    >>> summary = await checker.check()
    >>> summary.status, summary.count(EndpointHealth.DEGRADED)
    >>> pings = HealthChecker(failover, strategy="head", healthy_after=2, unhealthy_after=3)

    Given a ``Failover``, it checks that failover's endpoints and writes each result into their
    ``health``, so the next call's order reflects it. ``clock`` (monotonic seconds) times checks.
    """

    def __init__(
        self,
        endpoints: Sequence[Endpoint | str] | Failover,
        *,
        api_key: str | ApiKey | None = None,
        strategy: HealthStrategy = "models",
        path: str | None = None,
        degraded_latency: float = 1.0,
        timeout: float = 5.0,
        healthy_after: int = 1,
        unhealthy_after: int = 1,
        transport: AsyncTransport | None = None,
        headers: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(endpoints, Failover):
            self.endpoints = endpoints.endpoints
        else:
            self.endpoints = tuple(e if isinstance(e, Endpoint) else Endpoint(e) for e in endpoints)
        if strategy not in _STRATEGIES:
            raise UserError(f"strategy must be one of {', '.join(_STRATEGIES)}", field="strategy")
        if degraded_latency <= 0 or timeout <= 0:
            raise UserError("degraded_latency and timeout must be > 0", field="timeout")
        if healthy_after < 1 or unhealthy_after < 1:
            raise UserError("healthy_after and unhealthy_after must be >= 1", field="healthy_after")
        if strategy == "models":
            if api_key is None:
                raise UserError(
                    "the models strategy needs api_key (head and options do not)", field="api_key"
                )
            if path is not None:
                raise UserError("path applies to the head and options strategies", field="path")
        elif path is not None and not path.startswith("/"):
            raise UserError(f"path must start with '/', not {path!r}", field="path")
        self.strategy: HealthStrategy = strategy
        self.path = path or "/"
        self.degraded_latency = degraded_latency
        self.timeout = timeout
        self.healthy_after = healthy_after
        self.unhealthy_after = unhealthy_after
        self._clock = clock
        self._transport: AsyncTransport = transport or AiohttpTransport()
        self._owns_transport = transport is None
        self._headers = {
            "user-agent": f"claudegate/{__version__}",
            **{k.lower(): v for k, v in (headers or {}).items()},
        }
        self._in_flight = 0
        self._streaks: dict[Endpoint, tuple[int, int]] = {}
        # One client per endpoint, built now: a key unfit for an endpoint fails here, and the key
        # is revealed once per endpoint rather than once per check.
        self._clients: dict[Endpoint, AsyncClient] = {}
        if strategy == "models":
            for endpoint in self.endpoints:
                options: ClientOptions = {
                    "api_key": api_key,
                    "base_url": endpoint.base_url,
                    "timeout": Timeout(total=timeout, connect=timeout, read=timeout),
                    "default_headers": self._headers,
                    "transport": self._transport,
                }
                self._clients[endpoint] = AsyncClient(**options)

    async def check(self) -> HealthSummary:
        """Check every endpoint concurrently and return the summary."""
        checks = await asyncio.gather(*(self.check_one(e) for e in self.endpoints))
        return HealthSummary(tuple(checks))

    async def check_one(self, endpoint: Endpoint) -> EndpointCheck:
        """Check one endpoint and record the result on it."""
        self._in_flight += 1
        try:
            started = self._clock()
            status, error = await self._probe(endpoint)
            latency = self._clock() - started
        finally:
            self._in_flight -= 1
            if self._in_flight == 0 and self._owns_transport:
                await self._transport.aclose()
        return self._record(endpoint, latency, status, error)

    async def _probe(self, endpoint: Endpoint) -> tuple[int | None, str | None]:
        """The status answered and the error (None when the check passed)."""
        if self.strategy == "models":
            client = self._clients[endpoint]
            try:
                await client.request_json("GET", "/v1/models", query={"limit": 1})
            except APIStatusError as exc:
                return exc.status_code, f"{type(exc).__name__}: {exc}"
            except ClaudegateError as exc:
                return None, f"{type(exc).__name__}: {exc}"
            return 200, None
        timeout = Timeout(total=self.timeout, connect=self.timeout, read=self.timeout)
        request = Request(
            self.strategy.upper(), endpoint.base_url + self.path, dict(self._headers), None, timeout
        )
        try:
            response = await self._transport.handle(request)
        except ClaudegateError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        await response.aclose()
        status = response.status_code
        if is_failure_status(status):
            return status, f"{self.strategy.upper()} {self.path} answered {status}"
        return status, None

    def _record(
        self, endpoint: Endpoint, latency: float, status: int | None, error: str | None
    ) -> EndpointCheck:
        successes, failures = self._streaks.get(endpoint, (0, 0))
        if error is None:
            successes, failures = successes + 1, 0
            if successes >= self.healthy_after:
                slow = latency > self.degraded_latency
                health = EndpointHealth.DEGRADED if slow else EndpointHealth.HEALTHY
            elif endpoint.health is EndpointHealth.UNHEALTHY:
                health = EndpointHealth.UNHEALTHY
            else:
                health = EndpointHealth.DEGRADED
        else:
            successes, failures = 0, failures + 1
            health = EndpointHealth.UNHEALTHY if failures >= self.unhealthy_after else EndpointHealth.DEGRADED
        self._streaks[endpoint] = (successes, failures)
        endpoint.health = health
        endpoint.last_latency = latency
        if health is EndpointHealth.HEALTHY:
            endpoint.consecutive_failures = 0
        return EndpointCheck(
            endpoint.name, endpoint.base_url, health, latency, error, status, successes, failures
        )
