"""Passive health of one deployment, judged from the live traffic.

States: ``unknown`` (no call yet), ``healthy``, ``degraded`` (some of the last 20 calls failed,
or the breaker is probing), ``unhealthy`` (the breaker is open, or the last three calls failed).
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from typing import Any

__all__ = ["DeploymentHealth"]

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
