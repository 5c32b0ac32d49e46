"""What operators and probes use: ``/health``, ``/ready``, ``/metrics``, ``HEAD /``, ``?beta=true``."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import orjson

from claudegate.client import ApiKey
from claudegate.gateway import create_app
from tests.gateway import _wire
from tests.gateway.conftest import Live

ASK = {
    "model": "claude-sonnet-5",
    "max_tokens": 32,
    "messages": [{"role": "user", "content": "ping the harbour"}],
}


async def _in_process_get(path: str) -> tuple[int, bytes]:
    """One GET through the ASGI app without a server (so without the lifespan)."""
    app = create_app()
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_ready_is_503_until_the_lifespan_started() -> None:
    status, body = await _in_process_get("/ready")
    assert status == 503 and orjson.loads(body)["status"] != "ready"


def test_health_and_ready_answer_200_once_serving(gateway: Live) -> None:
    health = _wire.call(gateway.base_url, "GET", "/health")
    ready = _wire.call(gateway.base_url, "GET", "/ready")
    assert (health.status, ready.status) == (200, 200)
    assert health.headers["content-type"] == "application/json; charset=utf-8"


def test_head_root_answers_without_a_body(gateway: Live) -> None:
    reply = _wire.call(gateway.base_url, "HEAD", "/")
    assert reply.status == 200 and reply.body == b""


def test_the_beta_query_is_accepted_on_messages_and_count_tokens(gateway: Live) -> None:
    message = _wire.post(gateway.base_url, "/v1/messages?beta=true", ASK, _wire.ANTHROPIC_HEADERS)
    counted = _wire.post(
        gateway.base_url, "/v1/messages/count_tokens?beta=true", ASK, _wire.ANTHROPIC_HEADERS
    )
    assert message.status == 200 and "ping the harbour" in message.json()["content"][0]["text"]
    assert counted.status == 200 and counted.json()["input_tokens"] == message.json()["usage"]["input_tokens"]


def test_metrics_count_requests_latency_and_tokens(gateway: Live) -> None:
    before = _wire.metrics(gateway.base_url)
    answer = _wire.messages(gateway.base_url, ASK).json()
    _wire.messages(gateway.base_url, {**ASK, "stream": True})
    missing = _wire.messages(gateway.base_url, {**ASK, "max_tokens": None})
    reply = _wire.call(gateway.base_url, "GET", "/metrics")
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = reply.body.decode()

    def grown(name: str, **labels: str) -> float:
        return _wire.metric(after, name, **labels) - _wire.metric(before, name, **labels)

    route = {"route": "/v1/messages", "model": "claude-sonnet-5"}
    assert grown("claudegate_requests_total", status="200", **route) == 2
    assert (
        missing.status == 400 and grown("claudegate_requests_total", route="/v1/messages", status="400") == 1
    )
    assert grown("claudegate_request_duration_seconds_count", route="/v1/messages") == 3
    assert grown("claudegate_time_to_first_byte_seconds_count", route="/v1/messages") == 1
    output = grown("claudegate_tokens_total", model="claude-sonnet-5", kind="output")
    assert output == 2 * answer["usage"]["output_tokens"]
    assert (
        grown("claudegate_tokens_total", model="claude-sonnet-5", kind="input")
        == 2 * answer["usage"]["input_tokens"]
    )
    for family in (
        "claudegate_upstream_latency_seconds",
        "claudegate_json_repair",
        "claudegate_active_streams",
    ):
        assert f"# TYPE {family}" in after
    assert _wire.metric(after, "claudegate_active_streams") == 0


def test_metric_labels_name_routes_not_raw_paths(gateway: Live) -> None:
    # Label values are time series: one per scanned URL or model id would grow without bound.
    for probe in ("/wp-admin/setup-7f3a9c.php", "/v1/models/claude-sonnet-5", "/v1/models/probe-7f3a9c"):
        _wire.call(gateway.base_url, "GET", probe)
    text = _wire.metrics(gateway.base_url)
    assert "7f3a9c" not in text
    assert "/v1/models/claude-sonnet-5" not in text


def test_metrics_count_every_deliberate_key_reveal(gateway: Live) -> None:
    """The client's secret audit is exported: a reveal anywhere in the process is counted, the key
    itself never appears."""
    before = _wire.metric(_wire.metrics(gateway.base_url), "claudegate_secret_reveals_total")
    key = ApiKey("sk-ant-metrics-reveal-0000")
    key.reveal("test: an upstream request header")
    after = _wire.metrics(gateway.base_url)
    assert _wire.metric(after, "claudegate_secret_reveals_total") == before + 1
    assert "sk-ant-metrics-reveal" not in after
