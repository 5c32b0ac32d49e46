"""Per-tool metrics through a hook object: a protocol, and an in-memory implementation.

Outcomes of one call: ``ok``, ``cache_hit``, ``error`` (an exception or ``ToolError``), ``retry``
(the tool raised ``ToolRetry``), ``invalid`` (arguments refused), ``timeout``, ``unknown`` (no such
tool). ``InMemoryToolMetrics`` is also a Prometheus collector: register it in any
``prometheus_client`` registry, or the gateway's (``app.state.metrics.registry.register(m)``), and
its counters appear on ``/metrics``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

__all__ = ["LATENCY_BUCKETS", "InMemoryToolMetrics", "Outcome", "ToolMetrics", "ToolStats"]

Outcome = Literal["ok", "cache_hit", "error", "retry", "invalid", "timeout", "unknown"]

LATENCY_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0)
"""Upper bounds (seconds) of the latency histogram; one more bucket holds everything slower."""


class ToolMetrics(Protocol):
    """Receives one observation per finished tool call, and each repaired streamed argument."""

    def observe(self, tool: str, outcome: Outcome, seconds: float) -> None:
        """One call of ``tool`` ended with ``outcome`` after ``seconds``."""

    def repaired(self, tool: str | None) -> None:
        """Streamed arguments for ``tool`` ended as invalid JSON and were repaired."""


@dataclass(slots=True)
class ToolStats:
    """Counters of one tool; ``buckets[i]`` counts calls no slower than ``LATENCY_BUCKETS[i]``."""

    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    cache_hits: int = 0
    invalid: int = 0
    retries: int = 0
    repairs: int = 0
    seconds_total: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))


class InMemoryToolMetrics:
    """Counts per tool in memory (``stats[name]``); cheap enough for the hot path."""

    def __init__(self) -> None:
        self.stats: dict[str, ToolStats] = {}

    def _of(self, tool: str) -> ToolStats:
        stats = self.stats.get(tool)
        if stats is None:
            stats = self.stats[tool] = ToolStats()
        return stats

    def observe(self, tool: str, outcome: Outcome, seconds: float) -> None:
        """Count one finished call and file its latency."""
        stats = self._of(tool)
        stats.calls += 1
        stats.seconds_total += seconds
        stats.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        if outcome == "ok":
            return
        if outcome == "cache_hit":
            stats.cache_hits += 1
        elif outcome == "timeout":
            stats.timeouts += 1
            stats.errors += 1
        elif outcome == "invalid":
            stats.invalid += 1
            stats.errors += 1
        elif outcome == "retry":
            stats.retries += 1
            stats.errors += 1
        else:
            stats.errors += 1

    def repaired(self, tool: str | None) -> None:
        """Count one repair of streamed arguments."""
        self._of(tool or "(unknown)").repairs += 1

    def collect(self) -> Iterator[Metric]:
        """The counters as Prometheus metric families (calls by outcome, latency histogram)."""
        calls = CounterMetricFamily(
            "claudegate_tool_calls", "Tool calls by tool and kind.", labels=("tool", "kind")
        )
        latency = HistogramMetricFamily(
            "claudegate_tool_duration_seconds", "Time a tool call took.", labels=("tool",)
        )
        for name, stats in self.stats.items():
            for kind, value in (
                ("all", stats.calls),
                ("error", stats.errors),
                ("timeout", stats.timeouts),
                ("cache_hit", stats.cache_hits),
                ("invalid", stats.invalid),
                ("retry", stats.retries),
                ("repair", stats.repairs),
            ):
                calls.add_metric([name, kind], value)
            running = 0
            buckets = []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), stats.buckets, strict=True):
                running += count
                buckets.append(("+Inf" if bound == float("inf") else str(bound), running))
            latency.add_metric([name], buckets, stats.seconds_total)
        yield calls
        yield latency
