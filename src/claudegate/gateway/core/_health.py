"""Health of one deployment, judged from the live traffic and, when configured, active probes.

States: ``unknown`` (no call yet), ``healthy``, ``degraded`` (some of the last 20 calls failed,
or the breaker is probing), ``unhealthy`` (the breaker is open, or the last three calls failed).
A ``HealthProbe`` makes a cheap call (a token count when the provider returns one, else a
one-token message) every interval and records its outcome like any other call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections import deque
from typing import Any

from claudegate.errors import APIStatusError
from claudegate.providers import Provider, ProviderRequest

__all__ = ["DeploymentHealth", "HealthProbe"]

log = logging.getLogger("claudegate.gateway.health")

_RECENT = 20  # outcomes remembered to tell degraded from healthy
_LATENCIES = 200
_UNHEALTHY_AFTER = 3  # consecutive failures


class DeploymentHealth:
    """Outcomes and latencies of one deployment's recent calls."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._recent: deque[bool] = deque(maxlen=_RECENT)
        self._latencies: deque[float] = deque(maxlen=_LATENCIES)

    def record_success(self, latency: float) -> None:
        """A call answered (headers or whole body) after ``latency`` seconds."""
        self.calls += 1
        self.consecutive_failures = 0
        self._recent.append(True)
        self._latencies.append(latency)

    def record_failure(self, error: str) -> None:
        """A call failed; ``error`` is a short description that holds no secret."""
        self.calls += 1
        self.failures += 1
        self.consecutive_failures += 1
        self._recent.append(False)
        self.last_error = error
        self.last_error_at = time.time()

    def state(self, breaker: str | None) -> str:
        """``unknown``, ``healthy``, ``degraded`` or ``unhealthy`` given the breaker's state."""
        if breaker == "open":
            return "unhealthy"
        if not self._recent:
            return "unknown"
        if self.consecutive_failures >= _UNHEALTHY_AFTER:
            return "unhealthy"
        if breaker == "half_open" or not all(self._recent):
            return "degraded"
        return "healthy"

    def latency(self) -> dict[str, float | None]:
        """Recent latency figures in milliseconds (None before the first answer)."""
        values = sorted(self._latencies)
        if not values:
            return {"last_ms": None, "p50_ms": None, "p95_ms": None, "mean_ms": None}

        def at(fraction: float) -> float:
            return round(values[min(len(values) - 1, int(fraction * len(values)))] * 1000, 2)

        return {
            "last_ms": round(self._latencies[-1] * 1000, 2),
            "p50_ms": at(0.5),
            "p95_ms": at(0.95),
            "mean_ms": round(statistics.fmean(values) * 1000, 2),
        }

    def snapshot(self, breaker: dict[str, Any] | None) -> dict[str, Any]:
        """Everything ``GET /health/deployments`` shows for this deployment."""
        breaker_state = breaker["state"] if breaker is not None else None
        return {
            "name": self.name,
            "state": self.state(breaker_state),
            "breaker": breaker,
            "calls": self.calls,
            "failures": self.failures,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "latency": self.latency(),
        }


def _answered(exc: Exception) -> bool:
    # A request error is the upstream answering; overload, throttling and server errors are not.
    return isinstance(exc, APIStatusError) and exc.status_code < 500 and exc.status_code not in (408, 429)


class HealthProbe:
    """Probes one deployment every ``interval`` seconds in a background task."""

    def __init__(
        self, health: DeploymentHealth, provider: Provider, model: str, interval: float, timeout: float
    ) -> None:
        self.health = health
        self.provider = provider
        self.model = model
        self.interval = interval
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._counts = True  # until the provider says it cannot count tokens

    async def probe(self) -> bool:
        """One probe; its outcome is recorded in ``health``. True when the upstream answered."""
        messages = [{"role": "user", "content": "ping"}]
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                if self._counts:
                    body: dict[str, Any] = {"model": self.model, "messages": messages}
                    counted = await self.provider.count_tokens(ProviderRequest(body=body))
                    self._counts = counted is not None
                if not self._counts:
                    body = {"model": self.model, "max_tokens": 1, "messages": messages}
                    await self.provider.create(ProviderRequest(body=body))
        except TimeoutError:
            self.health.record_failure(f"probe timed out after {self.timeout:g}s")
            return False
        except Exception as exc:
            if _answered(exc):
                self.health.record_success(time.perf_counter() - started)
                return True
            reason = str(exc.status_code) if isinstance(exc, APIStatusError) else type(exc).__name__
            self.health.record_failure(f"probe failed: {reason}")
            return False
        self.health.record_success(time.perf_counter() - started)
        return True

    async def _run(self) -> None:
        while True:
            try:
                await self.probe()
            except Exception:  # a probe must never end the loop
                log.exception("health probe of %r failed unexpectedly", self.health.name)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Begin probing (on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop probing and wait for the task to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
