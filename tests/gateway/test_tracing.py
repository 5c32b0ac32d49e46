"""Traces: a call's server span, a client span per deployment tried, the client's trace continued
and carried to each upstream (spans collected by the SDK's in-memory exporter)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from claudegate.gateway import create_app, parse_config
from claudegate.gateway.core import Call, Principal
from claudegate.gateway.core._tracing import Tracing
from claudegate.testing import LiveServer
from tests.gateway import _spans, _wire
from tests.gateway._process import gateway_process
from tests.gateway._receiver import receiver
from tests.gateway._upstreams import JSON_TYPE, RecordingAnthropic, Send, _answer, _Recording

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
ASK = {"model": "fo", "max_tokens": 30, "messages": [{"role": "user", "content": "a secret plan"}]}
ANSWER = {
    "id": "msg_b",
    "type": "message",
    "role": "assistant",
    "model": "claude-upstream-b",
    "content": [{"type": "text", "text": "the answer"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 7, "cache_read_input_tokens": 3},
}


class Overloaded(_Recording):
    """An Anthropic upstream that is always overloaded (529)."""

    async def answer(self, request: Any, send: Send) -> None:
        body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        await _answer(send, 529, orjson.dumps(body), JSON_TYPE)


class Traced:
    def __init__(
        self, base_url: str, exporter: _spans.Collected, a: Overloaded, b: RecordingAnthropic, b_url: str
    ):
        self.base_url, self.exporter, self.a, self.b, self.b_url = base_url, exporter, a, b, b_url

    def spans(self) -> list[ReadableSpan]:
        """The spans once the call's own has ended (at its settlement, after the answer)."""
        return self.exporter.until(lambda spans: any(span.kind is SpanKind.SERVER for span in spans))


def _sse(message: dict[str, Any]) -> bytes:
    from claudegate.sse import encode_json_event, message_to_events

    return b"".join(encode_json_event(event) for event in message_to_events(message))


@pytest.fixture(scope="module")
def traced(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Traced]:
    monkeypatch_module.setenv("GW_TRACE_UPSTREAM_KEY", "sk-ant-api03-trace-upstream-0000")
    a, b = Overloaded(), RecordingAnthropic(orjson.dumps(ANSWER), _sse(ANSWER), 5)
    with LiveServer(a) as server_a, LiveServer(b) as server_b:
        key = "env:GW_TRACE_UPSTREAM_KEY"
        deployments = [
            {"provider": "anthropic", "name": "a", "base_url": server_a.base_url, "api_key": key},
            {
                "provider": "anthropic",
                "name": "b",
                "base_url": server_b.base_url,
                "api_key": key,
                "priority": 2,
            },
        ]
        app = create_app(parse_config({"models": [{"name": "fo", "deployments": deployments}]}))
        app.core.tracing, exporter = _spans.tracing()
        with LiveServer(app) as gateway:
            yield Traced(gateway.base_url, exporter, a, b, server_b.base_url)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _one_trace(spans: list[ReadableSpan]) -> tuple[ReadableSpan, list[ReadableSpan]]:
    (call,) = [span for span in spans if span.kind is SpanKind.SERVER]
    attempts = sorted(
        (span for span in spans if span.kind is SpanKind.CLIENT), key=lambda span: span.start_time or 0
    )
    assert {_hex(span.context.trace_id, 32) for span in spans} == {CLIENT_TRACE}
    assert call.parent is not None and _hex(call.parent.span_id, 16) == CLIENT_SPAN
    for attempt in attempts:
        assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
    return call, attempts


@pytest.mark.parametrize("stream", [False, True])
def test_a_failed_over_call_is_one_trace_of_a_call_span_and_two_attempt_spans(
    traced: Traced, stream: bool
) -> None:
    traced.exporter.clear()
    reply = _wire.messages(traced.base_url, {**ASK, "stream": stream}, headers={"traceparent": TRACEPARENT})
    assert reply.status == 200, reply.body
    call, (first, second) = _one_trace(traced.spans())

    assert call.name == "chat fo"
    attributes = dict(call.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "fo"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.response.model"] == "claude-upstream-b"
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["gen_ai.usage.output_tokens"] == 7
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 3
    assert attributes["claudegate.deployment"] == "b"
    assert attributes["claudegate.attempts"] == 2
    assert attributes["http.response.status_code"] == 200
    assert "error.type" not in attributes
    assert "gen_ai.input.messages" not in attributes  # content is not captured unless enabled

    assert dict(first.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "fo",
        "claudegate.deployment": "a",
        "http.response.status_code": 529,
        "error.type": "overloaded_error",
    }
    assert not first.status.is_ok
    second_attributes = dict(second.attributes or {})
    assert second_attributes["claudegate.deployment"] == "b"
    assert second_attributes["http.response.status_code"] == 200
    assert "error.type" not in second_attributes
    if not stream:  # a whole answer's usage is known when the attempt ends
        assert second_attributes["gen_ai.usage.input_tokens"] == 12
        assert second_attributes["gen_ai.usage.output_tokens"] == 7

    # Each upstream saw its own attempt's span as the parent, in the client's trace.
    sent_a, sent_b = (
        traced.a.requests[-1].headers["traceparent"],
        traced.b.requests[-1].headers["traceparent"],
    )
    assert sent_a == f"00-{CLIENT_TRACE}-{_hex(first.context.span_id, 16)}-01"
    assert sent_b == f"00-{CLIENT_TRACE}-{_hex(second.context.span_id, 16)}-01"


def test_without_a_traceparent_the_call_starts_a_trace_and_upstreams_join_it(traced: Traced) -> None:
    traced.exporter.clear()
    reply = _wire.messages(traced.base_url, ASK)
    assert reply.status == 200, reply.body
    spans = traced.spans()
    (call,) = [span for span in spans if span.kind is SpanKind.SERVER]
    assert call.parent is None
    trace_id = _hex(call.context.trace_id, 32)
    assert trace_id != CLIENT_TRACE
    assert traced.b.requests[-1].headers["traceparent"].split("-")[1] == trace_id


def test_content_is_captured_only_when_enabled(traced: Traced) -> None:
    app = create_app(parse_config({"models": [{"name": "*", "deployments": [{"provider": "simulator"}]}]}))
    app.core.tracing, exporter = _spans.tracing(capture_content=True)
    with LiveServer(app) as gateway:
        reply = _wire.messages(gateway.base_url, {**ASK, "model": "claude-sonnet-5"})
    assert reply.status == 200
    (call,) = [span for span in exporter.spans() if span.kind is SpanKind.SERVER]
    attributes = dict(call.attributes or {})
    assert "a secret plan" in str(attributes["gen_ai.input.messages"])
    assert "a secret plan" in str(attributes["gen_ai.output.messages"])  # the simulator echoes


def test_tracing_is_off_when_configured_off_even_with_an_otlp_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from claudegate.gateway._config import ObservabilityConfig

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    tracing = Tracing.from_config(ObservabilityConfig(tracing=False))
    assert not tracing.enabled
    assert tracing.start_call(Call(Principal(), "anthropic", ASK), "anthropic") is None


async def test_a_jobs_trace_continues_from_the_202_to_its_webhook_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "whsec_" + base64.b64encode(b"tracing-test-webhook-secret-01").decode()
    monkeypatch.setenv("CG_TRACE_WEBHOOK_SECRET", secret)
    config = {
        "models": [{"name": "*", "deployments": [{"provider": "simulator"}]}],
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"},
        "webhooks": {"secret": "env:CG_TRACE_WEBHOOK_SECRET", "allow_private": ["127.0.0.0/8"]},
    }
    app = create_app(parse_config(config))
    app.core.tracing, exporter = _spans.tracing()
    ask = {**ASK, "model": "claude-sonnet-5"}
    async with receiver() as hooks:
        with LiveServer(app) as gateway:
            body = {"request": ask, "webhook": {"url": hooks.url()}}
            headers = {"traceparent": TRACEPARENT}
            reply = await asyncio.to_thread(_wire.call, gateway.base_url, "POST", "/v1/jobs", body, headers)
            assert reply.status == 202, reply.body
            job_id = reply.json()["id"]
            spans = await asyncio.to_thread(
                exporter.until, lambda spans: any(span.name == "deliver webhook" for span in spans)
            )
    assert len(hooks.received) == 1
    by_name = {span.name: span for span in spans}
    submitted, call, delivery = (
        by_name["submit jobs"],
        by_name["chat claude-sonnet-5"],
        by_name["deliver webhook"],
    )
    (attempt,) = [span for span in spans if span.kind is SpanKind.CLIENT and span is not delivery]
    assert {_hex(span.context.trace_id, 32) for span in spans} == {CLIENT_TRACE}
    assert submitted.kind is SpanKind.SERVER and submitted.parent is not None
    assert _hex(submitted.parent.span_id, 16) == CLIENT_SPAN
    assert call.parent is not None and call.parent.span_id == submitted.context.span_id
    assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
    output_tokens = dict(call.attributes or {})["gen_ai.usage.output_tokens"]
    assert isinstance(output_tokens, int) and output_tokens > 0
    assert delivery.parent is not None and delivery.parent.span_id == submitted.context.span_id
    assert [link.context.span_id for link in delivery.links] == [submitted.context.span_id]
    attributes = dict(delivery.attributes or {})
    assert attributes["claudegate.job_id"] == job_id
    assert attributes["claudegate.webhook.event"] == "job.succeeded"
    assert attributes["claudegate.webhook.attempt"] == 1
    assert attributes["claudegate.webhook.outcome"] == "delivered"
    assert attributes["http.response.status_code"] == 204


def test_an_unsampled_call_makes_no_span_and_its_upstream_still_joins_the_trace(traced: Traced) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    app = create_app(
        parse_config(
            {
                "models": [
                    {
                        "name": "fo",
                        "deployments": [
                            {
                                "provider": "anthropic",
                                "name": "b",
                                "base_url": traced.b_url,
                                "api_key": "env:GW_TRACE_UPSTREAM_KEY",
                            }
                        ],
                    }
                ]
            }
        )
    )
    app.core.tracing = Tracing(TracerProvider(sampler=ALWAYS_OFF))
    with LiveServer(app) as gateway:
        reply = _wire.messages(gateway.base_url, ASK, headers={"traceparent": TRACEPARENT})
    assert reply.status == 200, reply.body
    version, trace_id, span_id, flags = traced.b.requests[-1].headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", CLIENT_TRACE, "00")
    assert span_id != CLIENT_SPAN


class OtlpSink(_Recording):
    """An OTLP/HTTP endpoint: records every export, accepts it (200, empty body)."""

    async def answer(self, request: Any, send: Send) -> None:
        await _answer(send, 200, b"", (b"content-type", b"application/x-protobuf"))


def test_serve_exports_spans_by_otlp_http_when_the_endpoint_is_set(tmp_path: Path) -> None:
    sink = OtlpSink()
    route = {
        "name": "claude-otlp-check",
        "deployments": [{"provider": "simulator", "model": "claude-sonnet-5"}],
    }
    config = {"models": [route]}
    with LiveServer(sink) as collector:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.base_url, "OTEL_SERVICE_NAME": "gateway-under-test"}
        with gateway_process(config, tmp_path, env) as base_url:
            reply = _wire.messages(
                base_url, {**ASK, "model": "claude-otlp-check"}, {"traceparent": TRACEPARENT}
            )
            assert reply.status == 200
        # The process has exited: its provider flushed every span on the way out.
    exports = [request for request in sink.requests if request.path == "/v1/traces"]
    assert exports and all(r.headers["content-type"] == "application/x-protobuf" for r in exports)
    body = b"".join(request.body for request in exports)
    assert b"chat claude-otlp-check" in body and b"gateway-under-test" in body
    assert bytes.fromhex(CLIENT_TRACE) in body
    assert b"a secret plan" not in body  # no content unless capture_content
