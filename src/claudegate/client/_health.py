"""On-demand health checks of endpoints: one cheap call each, all at once, and a summary.

The check is ``GET /v1/models?limit=1``: it needs a valid key, touches no model and costs nothing.
An endpoint is ``healthy`` when it answers 2xx within ``degraded_latency`` seconds, ``degraded``
when it answers 2xx more slowly, and ``unhealthy`` when it errs or does not answer within
``timeout``. Checks run concurrently; nothing runs unless ``check`` is called.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from claudegate.client._client import AsyncClient
from claudegate.client._failover import Endpoint, EndpointHealth, Failover
from claudegate.client._params import ClientOptions
from claudegate.client._timeouts import Timeout
from claudegate.client._transport import AsyncTransport
from claudegate.errors import ClaudegateError

__all__ = ["EndpointCheck", "HealthChecker", "HealthSummary"]


@dataclass(frozen=True, slots=True)
class EndpointCheck:
    """The result of checking one endpoint."""

    name: str
    base_url: str
    health: EndpointHealth
    latency: float
    """Seconds until the answer (or until giving up)."""
    error: str | None = None


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

    Given a ``Failover``, it checks that failover's endpoints and writes each result into their
    ``health``, so the next call's order reflects it.
    """

    def __init__(
        self,
        endpoints: Sequence[Endpoint | str] | Failover,
        *,
        api_key: str,
        degraded_latency: float = 1.0,
        timeout: float = 5.0,
        transport: AsyncTransport | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(endpoints, Failover):
            self.endpoints = endpoints.endpoints
        else:
            self.endpoints = tuple(e if isinstance(e, Endpoint) else Endpoint(e) for e in endpoints)
        if degraded_latency <= 0 or timeout <= 0:
            raise ValueError("degraded_latency and timeout must be > 0")
        self.degraded_latency = degraded_latency
        self.timeout = timeout
        self._api_key = api_key
        self._transport = transport
        self._headers = headers or {}

    async def check(self) -> HealthSummary:
        """Check every endpoint concurrently and return the summary."""
        checks = await asyncio.gather(*(self.check_one(e) for e in self.endpoints))
        return HealthSummary(tuple(checks))

    async def check_one(self, endpoint: Endpoint) -> EndpointCheck:
        """Check one endpoint and record the result on it."""
        options: ClientOptions = {
            "api_key": self._api_key,
            "base_url": endpoint.base_url,
            "timeout": Timeout(total=self.timeout, connect=self.timeout, read=self.timeout),
            "default_headers": self._headers,
        }
        if self._transport is not None:
            options["transport"] = self._transport
        client = AsyncClient(**options)
        started = time.monotonic()
        error: str | None = None
        try:
            await client.request_json("GET", "/v1/models", query={"limit": 1})
        except ClaudegateError as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if self._transport is None:
                await client.aclose()
        latency = time.monotonic() - started
        if error is not None:
            health = EndpointHealth.UNHEALTHY
        elif latency > self.degraded_latency:
            health = EndpointHealth.DEGRADED
        else:
            health = EndpointHealth.HEALTHY
        endpoint.health = health
        endpoint.last_latency = latency
        if health is EndpointHealth.HEALTHY:
            endpoint.consecutive_failures = 0
        return EndpointCheck(endpoint.name, endpoint.base_url, health, latency, error)
