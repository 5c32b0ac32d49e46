"""Prometheus metrics of one gateway, counted cheaply on the hot path.

Counting is a dict update per event (no locks: the gateway runs on one event loop); the
Prometheus text is produced only when ``/metrics`` is scraped, through a ``prometheus_client``
collector over those dicts. Each app has its own registry, so several can live in one process.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from claudegate.client import SECRET_AUDIT

__all__ = ["Counter", "Histogram", "Metrics"]

log = logging.getLogger("claudegate.gateway")

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
)
_TOKEN_KINDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_write", "cache_creation_input_tokens"),
    ("cache_read", "cache_read_input_tokens"),
)


class Counter:
    """A counter by label values."""

    __slots__ = ("help", "labels", "name", "values")

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.labels = name, help, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...] = (), amount: float = 1) -> None:
        self.values[key] = self.values.get(key, 0) + amount

    def total(self) -> float:
        return sum(self.values.values())

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.help, labels=self.labels)
        for key, value in self.values.items():
            family.add_metric(list(key), value)
        return family


class Histogram:
    """A histogram by label values (cumulative buckets are built only when scraped)."""

    __slots__ = ("bounds", "help", "labels", "name", "values")

    def __init__(
        self, name: str, help: str, labels: tuple[str, ...] = (), bounds: tuple[float, ...] = LATENCY_BUCKETS
    ) -> None:
        self.name, self.help, self.labels, self.bounds = name, help, labels, bounds
        self.values: dict[tuple[str, ...], list[float]] = {}

    def observe(self, key: tuple[str, ...], value: float) -> None:
        cell = self.values.get(key)
        if cell is None:
            cell = self.values[key] = [0.0] * (len(self.bounds) + 2)  # buckets, +Inf, sum
        cell[bisect_left(self.bounds, value)] += 1
        cell[-1] += value

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.help, labels=self.labels)
        for key, cell in self.values.items():
            running = 0.0
            buckets = []
            for bound, count in zip((*self.bounds, float("inf")), cell[:-1], strict=True):
                running += count
                buckets.append((str(bound) if bound != float("inf") else "+Inf", running))
            family.add_metric(list(key), buckets, cell[-1])
        return family


class Metrics(Collector):
    """The gateway's metrics; ``render()`` gives the Prometheus text exposition."""

    def __init__(self) -> None:
        self.requests = Counter(
            "claudegate_requests",
            "Requests answered, by route, model, deployment and status.",
            ("route", "model", "deployment", "status"),
        )
        self.latency = Histogram(
            "claudegate_request_duration_seconds", "Time from request to the end of the answer.", ("route",)
        )
        self.upstream_latency = Histogram(
            "claudegate_upstream_latency_seconds",
            "Time from sending upstream to the upstream's response headers.",
            ("deployment",),
        )
        self.time_to_first_byte = Histogram(
            "claudegate_time_to_first_byte_seconds",
            "Time from request to the first byte of a stream.",
            ("route",),
        )
        self.tokens = Counter(
            "claudegate_tokens",
            "Tokens by model and kind (input, output, cache_write, cache_read).",
            ("model", "kind"),
        )
        self.json_repairs = Counter(
            "claudegate_json_repair", "Tool-argument JSON that had to be repaired (a last resort)."
        )
        self.heartbeats = Counter("claudegate_heartbeats", "Keep-alive comments sent on idle streams.")
        self.usage_estimated = Counter(
            "claudegate_usage_estimated", "Answers whose upstream reported no usage: tokens estimated."
        )
        self.disconnects = Counter("claudegate_client_disconnects", "Streams the client left before the end.")
        self.active_streams = 0
        self.websocket_connections = 0
        """``/v1/ws`` connections open now (exported by the WebSocket surface's collector)."""
        self.before_scrape: list[Callable[[], Awaitable[None]]] = []
        """Read before ``/metrics`` is rendered: gauges of what lives elsewhere (the job store's
        queued runs), so nothing polls between scrapes."""
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    async def refresh(self) -> None:
        """Run ``before_scrape``; one that fails leaves its gauges as last read (logged)."""
        for read in list(self.before_scrape):
            try:
                await read()
            except Exception as exc:
                log.warning("reading a metric before the scrape failed: %s", type(exc).__name__)

    def repaired(self) -> None:
        """Count one tool-argument JSON repair."""
        self.json_repairs.inc()

    def record_usage(self, model: str, usage: Mapping[str, Any] | None) -> None:
        """Count the tokens of one answer."""
        if not usage:
            return
        for kind, key in _TOKEN_KINDS:
            value = usage.get(key)
            if isinstance(value, int) and value > 0:
                self.tokens.inc((model, kind), value)

    def collect(self) -> Iterator[Metric]:
        for metric in (
            self.requests,
            self.latency,
            self.upstream_latency,
            self.time_to_first_byte,
            self.tokens,
            self.json_repairs,
            self.heartbeats,
            self.disconnects,
            self.usage_estimated,
        ):
            yield metric.family()
        gauge = GaugeMetricFamily("claudegate_active_streams", "Streams being answered now.")
        gauge.add_metric([], self.active_streams)
        yield gauge
        yield CounterMetricFamily(
            "claudegate_secret_reveals",
            "Deliberate reveals of upstream API keys in this process (the client's secret audit).",
            value=SECRET_AUDIT.total,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
