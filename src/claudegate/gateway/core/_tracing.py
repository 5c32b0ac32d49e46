"""Spans of the gateway's calls (OpenTelemetry, GenAI semantic conventions), or none at all.

    call span (server)  "chat <model>"      from the core taking the call to its settlement
      └ attempt span (client) "chat <upstream model>"   one per deployment tried

A call's span continues the client's ``traceparent`` (W3C trace context) when it sent one, and each
attempt's context is what the upstream receives as ``traceparent``. Spans are made only when a
tracer provider exists: the application's own, or the OTLP HTTP exporter's when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; otherwise ``Tracing.enabled`` is False and the core pays a
single attribute check per call. Prompts and completions go on spans only with
``observability.capture_content``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from claudegate import _semconv as sc
from claudegate.gateway._config import ObservabilityConfig

if TYPE_CHECKING:
    from claudegate.gateway.core._call import Call
    from claudegate.gateway.core._router import Deployment

__all__ = ["Tracing"]

log = logging.getLogger("claudegate.gateway")

_PROPAGATOR = TraceContextTextMapPropagator()
_PROVIDER_NAMES = {"anthropic": "anthropic", "openai": "openai", "salesforce": "salesforce"}
"""``gen_ai.provider.name`` per deployment kind; others are the project's own (``claudegate.<kind>``)."""


def provider_name(kind: str) -> str:
    return _PROVIDER_NAMES.get(kind) or "claudegate." + kind


def _otlp_provider() -> TracerProvider:
    """An SDK provider exporting by OTLP over HTTP (endpoint and headers from the OTEL_* variables)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = os.environ.get("OTEL_SERVICE_NAME") or "claudegate-gateway"
    provider = SdkTracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class Tracing:
    """Starts and ends the gateway's spans (see the module docstring)."""

    __slots__ = ("capture_content", "enabled", "provider", "tracer")

    def __init__(self, provider: TracerProvider | None, *, capture_content: bool = False) -> None:
        self.provider = provider
        self.tracer: Tracer | None = (
            provider.get_tracer("claudegate.gateway") if provider is not None else None
        )
        self.enabled = self.tracer is not None
        self.capture_content = capture_content

    @classmethod
    def from_config(cls, config: ObservabilityConfig) -> Tracing:
        """Tracing by the process's tracer provider; the OTLP exporter's is installed first when
        ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the application set none."""
        if not config.tracing:
            return cls(None)
        provider = trace.get_tracer_provider()
        unset = isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
        if unset and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            try:
                provider = _otlp_provider()
            except ImportError:
                log.warning(
                    "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed "
                    "(pip install 'claudegate[otlp]'): no traces"
                )
                return cls(None)
            trace.set_tracer_provider(provider)
            unset = False
            log.info("traces are exported by OTLP to %s", os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"])
        return cls(None if unset else provider, capture_content=config.capture_content)

    async def flush(self, timeout: float = 5.0) -> None:
        """Export the spans still buffered (at shutdown), when the provider buffers any."""
        flush = getattr(self.provider, "force_flush", None)
        if flush is not None:
            await asyncio.to_thread(flush, int(timeout * 1000))

    @staticmethod
    def parent(headers: Mapping[str, str]) -> Context | None:
        """The context a client's ``traceparent`` (and ``tracestate``) names, if it sent one."""
        if "traceparent" not in headers:
            return None
        return _PROPAGATOR.extract(headers)

    def start_call(self, call: Call, surface: str) -> Span | None:
        """The call's server span (None when tracing is off), made with what is known of the call
        at its admission (what a sampler may look at)."""
        tracer = self.tracer
        if tracer is None:
            return None
        model = call.model
        attributes: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: sc.OPERATION_CHAT,
            sc.GEN_AI_REQUEST_MODEL: model,
            sc.CLAUDEGATE_REQUEST_ID: call.request_id,
            sc.CLAUDEGATE_SURFACE: surface,
        }
        account = call.principal.account
        if account is not None:
            attributes[sc.CLAUDEGATE_KEY_ID] = account
        request = call.request
        max_tokens = request.get("max_tokens")
        if isinstance(max_tokens, int):
            attributes[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        temperature = request.get("temperature")
        if isinstance(temperature, int | float):
            attributes[sc.GEN_AI_REQUEST_TEMPERATURE] = float(temperature)
        if self.capture_content:
            attributes[sc.GEN_AI_INPUT_MESSAGES] = _text(request.get("messages"))
        # Passed at the start, in one go: the SDK checks a span's attributes once per call.
        parent = self.parent(call.headers)
        return tracer.start_span(f"chat {model}", context=parent, kind=SpanKind.SERVER, attributes=attributes)

    def end_call(self, span: Span, call: Call) -> None:
        """Set what the call came to (deployment, usage, status, error) and end its span."""
        if not span.is_recording():  # not sampled: nothing to set
            span.end()
            return
        outcome = call.outcome
        attributes: dict[str, Any] = {
            sc.CLAUDEGATE_ATTEMPTS: outcome.attempts,
            sc.HTTP_RESPONSE_STATUS_CODE: outcome.status,
        }
        if outcome.deployment:
            attributes[sc.CLAUDEGATE_DEPLOYMENT] = outcome.deployment
        if outcome.provider:
            attributes[sc.GEN_AI_PROVIDER_NAME] = outcome.provider
        if outcome.response_model:
            attributes[sc.GEN_AI_RESPONSE_MODEL] = outcome.response_model
        _usage_attributes(attributes, outcome.usage)
        if outcome.stop_reason:
            attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (outcome.stop_reason,)
        error = outcome.error
        if error is not None:
            attributes[sc.ERROR_TYPE] = error.error_type
            span.set_status(Status(StatusCode.ERROR, error.message[:200]))
        elif outcome.status == 499:
            attributes[sc.ERROR_TYPE] = "cancelled"
        span.set_attributes(attributes)
        span.end()

    def start_attempt(
        self, call: Call, deployment: Deployment, model: str, headers: MutableMapping[str, str]
    ) -> Span | None:
        """An attempt's client span, its context written into ``headers`` as ``traceparent``."""
        tracer = self.tracer
        parent = call.span
        if tracer is None or parent is None:
            return None
        if not parent.is_recording():  # not sampled: the upstream joins the call's context
            _write_traceparent(headers, parent)
            return None
        span = tracer.start_span(
            f"chat {model}",
            context=trace.set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            attributes={
                sc.GEN_AI_OPERATION_NAME: sc.OPERATION_CHAT,
                sc.GEN_AI_PROVIDER_NAME: provider_name(deployment.provider.kind),
                sc.GEN_AI_REQUEST_MODEL: model,
                sc.CLAUDEGATE_DEPLOYMENT: deployment.name,
            },
        )
        _write_traceparent(headers, span)
        return span

    @staticmethod
    def end_attempt(span: Span, status: int, error_type: str | None, usage: Any = None) -> None:
        """End an attempt's span with the upstream's status and, when it failed, the error type."""
        if not span.is_recording():
            span.end()
            return
        attributes: dict[str, Any] = {sc.HTTP_RESPONSE_STATUS_CODE: status}
        if isinstance(usage, dict):
            _usage_attributes(attributes, usage)
        if error_type is not None:
            attributes[sc.ERROR_TYPE] = error_type
            span.set_status(Status(StatusCode.ERROR))
        span.set_attributes(attributes)
        span.end()

    def output(self, span: Span | None, message: Any) -> None:
        """The completion on the call's span, when content capture is on."""
        if span is not None and self.capture_content:
            span.set_attribute(sc.GEN_AI_OUTPUT_MESSAGES, _text([message]))

    def start_submission(self, headers: dict[str, str], attributes: dict[str, Any]) -> Span | None:
        """The server span of work accepted for later (jobs, a batch: the ``202``), in the client's
        trace; ``headers`` (kept with the work) then carry its context, so the work continues it."""
        tracer = self.tracer
        if tracer is None:
            return None
        span = tracer.start_span(
            "submit jobs", context=self.parent(headers), kind=SpanKind.SERVER, attributes=attributes
        )
        _write_traceparent(headers, span)
        return span

    def start_linked(self, name: str, traceparent: str | None, attributes: dict[str, Any]) -> Span | None:
        """A span of work done on behalf of an earlier request (a job, a webhook delivery): its
        child when ``traceparent`` is known, and linked to it."""
        tracer = self.tracer
        if tracer is None:
            return None
        if traceparent is None:
            return tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
        parent = _PROPAGATOR.extract({"traceparent": traceparent})
        origin = trace.get_current_span(parent).get_span_context()
        links = [Link(origin)] if origin.is_valid else None
        return tracer.start_span(
            name, context=parent, kind=SpanKind.CLIENT, attributes=attributes, links=links
        )

    @staticmethod
    def context_headers(span: Span) -> dict[str, str]:
        """``span``'s context as W3C trace-context headers (``traceparent``, and ``tracestate``
        when it has one), for a request made within it."""
        headers: dict[str, str] = {}
        _write_traceparent(headers, span)
        return headers


def _write_traceparent(headers: MutableMapping[str, str], span: Span) -> None:
    """``span``'s context as the W3C ``traceparent`` (and ``tracestate``) in ``headers``."""
    context = span.get_span_context()
    headers["traceparent"] = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    state = context.trace_state
    if state:
        headers["tracestate"] = state.to_header()
    else:
        headers.pop("tracestate", None)


def _usage_attributes(attributes: dict[str, Any], usage: Mapping[str, Any]) -> None:
    tokens_in = usage.get("input_tokens")
    if isinstance(tokens_in, int):
        attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] = tokens_in
    tokens_out = usage.get("output_tokens")
    if isinstance(tokens_out, int):
        attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = tokens_out
    cached = usage.get("cache_read_input_tokens")
    if isinstance(cached, int):
        attributes[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached


def _text(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
