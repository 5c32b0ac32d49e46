"""What tracing costs before the gateway adds anything: the OpenTelemetry SDK's own handling of the
two spans a call makes, and the OTLP encoding of them, next to the gateway's code for the same
spans and one access-log line (``bench/gateway.py --observability``).

Every figure is CPU time per call in this process (the SDK's export thread included), the best
of several rounds: the floor the gateway's figures are read against.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

__all__ = ["NullExporter", "floor", "install_null_tracing"]


class NullExporter(SpanExporter):
    """Takes every batch and sends nothing: what is left is the SDK's span handling."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class EncodingExporter(SpanExporter):
    """Encodes every batch as the OTLP exporter does (protobuf), and sends nothing."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


def install_null_tracing(ratio: float) -> None:
    """Install an SDK tracer provider exporting to ``NullExporter``, ``ratio`` of traces sampled
    (what the gateway process runs with in the bench's "spans, not exported" case)."""
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": "claudegate-gateway"}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    trace.set_tracer_provider(provider)


def _provider(exporter: SpanExporter, *, sampled: bool = True) -> TracerProvider:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": "claudegate-gateway"}),
        sampler=ParentBased(ALWAYS_ON if sampled else ALWAYS_OFF),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=65536))
    return provider


_CALL_START: dict[str, AttributeValue] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "claude-bench",
    "claudegate.request_id": "req_0123456789abcdef01234567",
    "claudegate.surface": "anthropic",
    "gen_ai.request.max_tokens": 256,
}
_ATTEMPT_START: dict[str, AttributeValue] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-bench",
    "claudegate.deployment": "claude-bench#0",
}
_USAGE: dict[str, AttributeValue] = {
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 30,
    "gen_ai.usage.cache_read.input_tokens": 0,
}
_ATTEMPT_END: dict[str, AttributeValue] = {"http.response.status_code": 200, **_USAGE}
_CALL_END: dict[str, AttributeValue] = {
    "claudegate.attempts": 1,
    "http.response.status_code": 200,
    "claudegate.deployment": "claude-bench#0",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.response.model": "claude-bench",
    **_USAGE,
    "gen_ai.response.finish_reasons": ("end_turn",),
}


def _raw_spans(provider: TracerProvider) -> Callable[[], None]:
    """The two spans of a call as the SDK's own API makes them, with the gateway's attributes."""
    tracer = provider.get_tracer("bench")

    def spans() -> None:
        call = tracer.start_span("chat claude-bench", kind=SpanKind.SERVER, attributes=_CALL_START)
        context = trace.set_span_in_context(call)
        attempt = tracer.start_span(
            "chat claude-bench", context=context, kind=SpanKind.CLIENT, attributes=_ATTEMPT_START
        )
        attempt.set_attributes(_ATTEMPT_END)
        attempt.end()
        call.set_attributes(_CALL_END)
        call.end()

    return spans


def _gateway_spans(provider: TracerProvider) -> Callable[[], Any]:
    """The same two spans made by the gateway's ``Tracing`` (a call, a deployment, its answer)."""
    from claudegate.gateway import create_app, parse_config
    from claudegate.gateway.core import Call, Principal
    from claudegate.gateway.core._tracing import Tracing

    app = create_app(
        parse_config({"models": [{"name": "claude-bench", "deployments": [{"provider": "simulator"}]}]})
    )
    route = app.core.router.resolve("claude-bench")
    assert route is not None
    deployment = route.deployments[0]
    tracing = Tracing(provider)
    usage = {"input_tokens": 12, "output_tokens": 30, "cache_read_input_tokens": 0}
    request = {"model": "claude-bench", "max_tokens": 256, "messages": []}

    def spans() -> Call:
        call = Call(Principal(), "anthropic", request)
        call.span = tracing.start_call(call, "anthropic")
        attempt = tracing.start_attempt(call, deployment, "claude-bench", {})
        assert call.span is not None
        if attempt is not None:  # None when unsampled: only the traceparent is written
            Tracing.end_attempt(attempt, 200, None, usage)
        outcome = call.outcome
        outcome.attempts, outcome.deployment, outcome.provider = 1, deployment.name, "claudegate.simulator"
        outcome.response_model, outcome.stop_reason = "claude-bench", "end_turn"
        outcome.usage.update(usage)
        tracing.end_call(call.span, call)
        return call

    return spans


def _access_line(sample: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """One access-log line for ``sample`` (a call) as ``claudegate serve`` writes it (JSON, to
    /dev/null here); and the undoing of the handler."""
    from claudegate.gateway._access_log import ACCESS_LOGGER, AccessLog, attach_handler
    from claudegate.gateway._config import AccessLogConfig

    config = AccessLogConfig(format="json")
    sink = open(os.devnull, "w")  # closed by the undoing
    handler = attach_handler(config, sink)
    access = AccessLog(config)
    sample.access = ("POST", "/v1/messages")

    def undo() -> None:
        if handler is not None:
            logging.getLogger(ACCESS_LOGGER).removeHandler(handler)
        sink.close()

    return (lambda: access.record_call(sample)), undo


def _best(work: Callable[[], object], provider: TracerProvider | None, count: int, rounds: int) -> float:
    """CPU microseconds per ``work()``, the best of ``rounds`` (each ends with its spans exported)."""
    results = []
    for _ in range(rounds):
        began = time.process_time()
        for _ in range(count):
            work()
        if provider is not None:
            provider.force_flush()
        results.append((time.process_time() - began) / count * 1e6)
    return min(results)


def floor(count: int = 2000, rounds: int = 5) -> list[tuple[str, float]]:
    """(what, CPU µs per call) for the SDK's floor, the gateway's spans and its access-log line."""
    null, encoding = _provider(NullExporter()), _provider(EncodingExporter())
    unsampled = _provider(NullExporter(), sampled=False)
    gateway = _gateway_spans(null)
    record, undo = _access_line(gateway())
    try:
        figures = [
            ("SDK alone: the two spans, not exported", _best(_raw_spans(null), null, count, rounds)),
            ("SDK alone: the two spans, OTLP-encoded", _best(_raw_spans(encoding), encoding, count, rounds)),
            ("gateway: the two spans, not exported (its Call made too)", _best(gateway, null, count, rounds)),
            (
                "gateway: a call not sampled (no spans, a traceparent)",
                _best(_gateway_spans(unsampled), None, count, rounds),
            ),
            ("gateway: one access-log line", _best(record, None, count, rounds)),
        ]
    finally:
        undo()
        for provider in (null, encoding, unsampled):
            provider.shutdown()
    return figures
