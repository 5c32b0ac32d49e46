"""Spans collected in memory, with a wait for the ones a server finishes after its answer went out."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from claudegate.gateway.core._tracing import Tracing


class Collected(InMemorySpanExporter):
    """The SDK's in-memory exporter, and a wait for spans to come."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = threading.Condition()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._changed:
            result = super().export(spans)
            self._changed.notify_all()
        return result

    def spans(self) -> list[ReadableSpan]:
        return list(self.get_finished_spans())

    def until(self, ready: Callable[[list[ReadableSpan]], bool], timeout: float = 30.0) -> list[ReadableSpan]:
        """The spans once ``ready`` holds of them (an AssertionError after ``timeout`` seconds)."""
        with self._changed:
            if not self._changed.wait_for(lambda: ready(self.spans()), timeout):
                raise AssertionError(f"spans never became ready: {[span.name for span in self.spans()]}")
            return self.spans()


def tracing(*, capture_content: bool = False) -> tuple[Tracing, Collected]:
    """A ``Tracing`` whose spans go to the returned collector (the process's provider untouched)."""
    collected = Collected()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(collected))
    return Tracing(provider, capture_content=capture_content), collected
