"""What ``/metrics`` shows of event pipelines, by pipeline and priority: events accepted, runs
queued in the store, runs running in this process, run ends (processed, failed — a retry is due —,
dead), and the queue wait of a run's first attempt (from acceptance to its start; p50/p99 by
``histogram_quantile``); by pipeline, the groups of batched runs formed, their sizes and the runs
waiting for one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from claudegate.gateway._metrics import Counter, Histogram
from claudegate.gateway.jobs import Job

__all__ = ["EventMetrics"]

_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_SIZE_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)
_LABELS = ("pipeline", "priority")


class EventMetrics(Collector):
    """The event-pipeline metrics of one gateway process (fed by the job engine's observer)."""

    def __init__(self) -> None:
        self.accepted = Counter("claudegate_events_accepted", "Event runs accepted.", _LABELS)
        self.ended = Counter(
            "claudegate_event_runs",
            "Event run attempts ended here, by outcome (processed, failed: a retry is due, dead).",
            (*_LABELS, "outcome"),
        )
        self.wait = Histogram(
            "claudegate_event_queue_wait_seconds",
            "Time from an event's acceptance to the start of its run's first attempt.",
            _LABELS,
            bounds=_WAIT_BUCKETS,
        )
        self.batches = Counter(
            "claudegate_event_batches",
            "Groups of batched runs sent, by pipeline and how (upstream: one upstream Message Batch; "
            "direct: the runs' own calls, together).",
            ("pipeline", "mode"),
        )
        self.batch_size = Histogram(
            "claudegate_event_batch_size",
            "Runs in one group of batched runs.",
            ("pipeline",),
            bounds=_SIZE_BUCKETS,
        )
        self._running: dict[str, tuple[str, str]] = {}
        self.queued: Mapping[tuple[str, str], int] = {}
        """Runs queued in the store by (pipeline, priority), as last read (``refresh``)."""
        self.waiting: Callable[[], Mapping[str, int]] = dict
        """Runs waiting for their group in this process, by pipeline (the batcher's)."""

    def accepted_run(self, pipeline: str, priority: str) -> None:
        self.accepted.inc((pipeline, priority))

    def batch(self, pipeline: str, size: int, mode: str) -> None:
        """A group of ``size`` batched runs of ``pipeline`` sent (``upstream`` or ``direct``)."""
        self.batches.inc((pipeline, mode))
        self.batch_size.observe((pipeline,), float(size))

    def observe(self, job: Job) -> None:
        """A run this process started, ended, queued again or canceled."""
        key = (str((job.metadata or {}).get("pipeline")), job.priority_name)
        if job.status == "running":
            self._running[job.id] = key
            if job.attempts == 1 and job.started_at is not None:
                self.wait.observe(key, max(job.started_at - job.created_at, 0.0))
            return
        self._running.pop(job.id, None)
        if job.status == "succeeded":
            self.ended.inc((*key, "processed"))
        elif job.status == "queued" and job.error is not None:
            self.ended.inc((*key, "failed"))
        elif job.status in ("failed", "canceled"):
            self.ended.inc((*key, "dead"))

    def collect(self) -> Iterator[Metric]:
        yield self.accepted.family()
        yield self.ended.family()
        yield self.wait.family()
        running = GaugeMetricFamily(
            "claudegate_event_runs_running", "Event runs running in this process.", labels=_LABELS
        )
        counts: dict[tuple[str, str], int] = {}
        for key in list(self._running.values()):
            counts[key] = counts.get(key, 0) + 1
        for key, count in counts.items():
            running.add_metric(list(key), count)
        yield running
        yield self.batches.family()
        yield self.batch_size.family()
        queued = GaugeMetricFamily(
            "claudegate_event_runs_queued",
            "Event runs queued in the store (a retry due included), read when scraped: every "
            "gateway sharing the store shows the same.",
            labels=_LABELS,
        )
        for key, count in self.queued.items():
            queued.add_metric(list(key), count)
        yield queued
        waiting = GaugeMetricFamily(
            "claudegate_event_batch_waiting",
            "Batched runs claimed by this process, waiting for their group to be sent.",
            labels=("pipeline",),
        )
        for label, count in self.waiting().items():
            waiting.add_metric([label], count)
        yield waiting
