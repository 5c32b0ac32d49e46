"""Webhook requests carry the ``traceparent`` of their ``deliver webhook`` span: a receiver that
traces joins the trace the work was submitted in (a job's, a batch's, an event's)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from claudegate.gateway import create_app, parse_config
from claudegate.testing import LiveServer
from tests.gateway import _spans, _wire
from tests.gateway._receiver import Receiver, receiver
from tests.gateway.conftest import simulator_route

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"
ASK = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}
SECRET = "whsec_" + base64.b64encode(b"webhook-trace-test-secret-0123").decode()

Submit = Callable[[str, str], _wire.Reply]
"""Submits the work (gateway base URL, webhook URL) with the client's ``traceparent``."""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CG_TRACE_HOOK_SECRET", SECRET)
    return {
        "models": [simulator_route()],
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "webhooks": {"secret": "env:CG_TRACE_HOOK_SECRET", "allow_private": ["127.0.0.0/8"]},
    }


async def _delivered(
    config: dict[str, Any], submit: Submit, setup: Callable[[str], None] | None = None
) -> tuple[Receiver, list[ReadableSpan]]:
    """Submit the work and wait for its webhook attempt's span (ended once the receiver has
    answered); the receiver and the spans. ``setup`` gets the webhook URL before the gateway starts."""
    async with receiver() as hooks:
        if setup is not None:
            setup(hooks.url())
        app = create_app(parse_config(config))
        app.core.tracing, exporter = _spans.tracing()
        with LiveServer(app) as gateway:
            reply = await asyncio.to_thread(submit, gateway.base_url, hooks.url())
            assert reply.status in (200, 202), reply.body
            spans = await asyncio.to_thread(
                exporter.until, lambda spans: any(span.name == "deliver webhook" for span in spans)
            )
    return hooks, spans


def _check(hooks: Receiver, spans: list[ReadableSpan]) -> None:
    (delivered,) = hooks.received
    (delivery,) = [span for span in spans if span.name == "deliver webhook"]
    header = delivered.headers["traceparent"]
    version, trace_id, parent_id, flags = header.split("-")
    assert (version, trace_id, flags) == ("00", CLIENT_TRACE, "01")
    assert format(delivery.context.trace_id, "032x") == CLIENT_TRACE
    assert parent_id == format(delivery.context.span_id, "016x")  # the attempt's own span
    assert "webhook-signature" in delivered.headers


def _post(path: str, body: dict[str, Any]) -> Submit:
    headers = {"traceparent": TRACEPARENT, "anthropic-version": "2023-06-01"}
    return lambda base_url, hook: _wire.call(
        base_url, "POST", path, {**body, "webhook": {"url": hook}}, headers
    )


async def test_a_jobs_webhook_request_joins_the_jobs_trace(config: dict[str, Any]) -> None:
    hooks, spans = await _delivered(config, _post("/v1/jobs", {"request": ASK}))
    _check(hooks, spans)


async def test_a_batchs_webhook_request_joins_the_batchs_trace(config: dict[str, Any]) -> None:
    requests = [{"custom_id": f"r-{index}", "params": ASK} for index in range(2)]
    hooks, spans = await _delivered(config, _post("/v1/messages/batches", {"requests": requests}))
    _check(hooks, spans)


async def test_an_event_pipelines_result_webhook_joins_the_events_trace(config: dict[str, Any]) -> None:
    pipeline = {"name": "note", "on": "doc.*", "model": "claude-sonnet-5", "prompt": "{{ payload.text }}"}
    config["events"] = {"pipelines": [pipeline]}

    def submit(base_url: str, hook: str) -> _wire.Reply:
        body = {"type": "doc.added", "id": "d-1", "payload": {"text": "a note"}}
        return _wire.call(base_url, "POST", "/v1/events", body, {"traceparent": TRACEPARENT})

    hooks, spans = await _delivered(config, submit, lambda hook: pipeline.update(webhook=hook))
    _check(hooks, spans)
