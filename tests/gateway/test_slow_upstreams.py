"""Slow upstreams: a client that leaves cancels them at once, their silences get heartbeats, and
their frames are forwarded as they come."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest

from claudegate.sse import validate_anthropic_sse
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._upstreams import SlowUpstream
from tests.gateway.conftest import Live, serve

BOUND = 1.0  # seconds from the client closing to the upstream seeing its connection closed
PROMPT = [{"role": "user", "content": "talk slowly"}]


@dataclass(frozen=True)
class Setup:
    upstream: SlowUpstream
    gateway: Live


def slow_gateway(upstream: SlowUpstream, heartbeat: float = 15) -> Iterator[Setup]:
    """A gateway in front of ``upstream``: as Anthropic (passthrough and buffered) and as OpenAI."""
    with pytest.MonkeyPatch.context() as patch, LiveServer(upstream) as server:
        patch.setenv("GW_TEST_SLOW_KEY", "sk-ant-api03-slow-upstream-0000")
        anthropic = {"provider": "anthropic", "base_url": server.base_url, "api_key": "env:GW_TEST_SLOW_KEY"}
        openai = {"provider": "openai", "base_url": server.base_url + "/v1"}
        config = {
            "gateway": {"heartbeat_interval": heartbeat},
            "models": [
                {"name": "slow", "deployments": [anthropic]},
                {"name": "slow-buffered", "tool_stream": "buffer", "deployments": [anthropic]},
                {"name": "slow-openai", "deployments": [openai]},
            ],
        }
        with serve(config) as gateway:
            yield Setup(upstream, gateway)


@pytest.fixture
def slow() -> Iterator[Setup]:
    """A fresh upstream that would take 10 s to finish its stream."""
    yield from slow_gateway(SlowUpstream(deltas=200, delay=0.05))


@pytest.fixture
def late() -> Iterator[Setup]:
    """A fresh upstream that takes 2 s to send its response headers."""
    yield from slow_gateway(SlowUpstream(deltas=2, delay=0.01, header_delay=2.0))


def wait_for_idle(base_url: str) -> str:
    """The metrics text once no stream is being answered (or after 2 s)."""
    deadline = time.monotonic() + 2
    text = _wire.metrics(base_url)
    while _wire.metric(text, "claudegate_active_streams") != 0 and time.monotonic() < deadline:
        time.sleep(0.02)
        text = _wire.metrics(base_url)
    return text


def assert_upstream_cancelled(upstream: SlowUpstream, closed: float) -> None:
    assert upstream.closed.wait(BOUND + 1), "the upstream never saw the client leave"
    assert upstream.closed_at is not None and upstream.closed_at - closed < BOUND


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/v1/messages", "slow"),
        ("/v1/messages", "slow-buffered"),
        ("/v1/chat/completions", "slow"),
        ("/v1/messages", "slow-openai"),
        ("/v1/chat/completions", "slow-openai"),
    ],
)
def test_closing_the_client_connection_mid_stream_cancels_the_upstream(
    slow: Setup, path: str, model: str
) -> None:
    base = slow.gateway.base_url
    before = _wire.metric(_wire.metrics(base), "claudegate_client_disconnects_total")
    body = {"model": model, "max_tokens": 500, "stream": True, "messages": PROMPT}
    connection, response = _wire.start(base, "POST", path, body, _wire.ANTHROPIC_HEADERS)
    assert response.status == 200
    assert response.read1(64)
    time.sleep(0.2)
    connection.close()
    assert_upstream_cancelled(slow.upstream, time.monotonic())
    assert slow.upstream.sent < 60
    text = wait_for_idle(base)
    assert _wire.metric(text, "claudegate_active_streams") == 0
    assert _wire.metric(text, "claudegate_client_disconnects_total") - before == 1


@pytest.mark.parametrize("stream", [True, False])
def test_closing_the_client_connection_before_the_upstream_answers_cancels_it(
    late: Setup, stream: bool
) -> None:
    body = {"model": "slow", "max_tokens": 500, "stream": stream, "messages": PROMPT}
    connection = _wire.connect(late.gateway.base_url)
    connection.request("POST", "/v1/messages", body=orjson.dumps(body), headers=_wire.ANTHROPIC_HEADERS)
    time.sleep(0.3)
    connection.close()
    assert_upstream_cancelled(late.upstream, time.monotonic())


def test_a_slow_passthrough_stream_gets_heartbeats_between_whole_frames() -> None:
    for setup in slow_gateway(SlowUpstream(deltas=2, delay=0.15), heartbeat=0.05):
        body = {"model": "slow", "max_tokens": 50, "stream": True, "messages": PROMPT}
        reply = _wire.messages(setup.gateway.base_url, body)
        assert reply.body.count(b"\n\n: keepalive\n\n") >= 6
        assert validate_anthropic_sse(reply.body)["content"][0]["text"] == " word" * 2


def test_crlf_framed_upstream_events_are_forwarded_as_they_come() -> None:
    upstream = SlowUpstream(deltas=10, delay=0.1, crlf=True)
    frames = upstream._anthropic_frames()
    for setup in slow_gateway(upstream):
        body = {"model": "slow", "max_tokens": 50, "stream": True, "messages": PROMPT}
        connection, response = _wire.start(
            setup.gateway.base_url, "POST", "/v1/messages", body, _wire.ANTHROPIC_HEADERS
        )
        try:
            first = response.read1(65536)
            sent_by_then = upstream.sent
            rest = response.read()
        finally:
            connection.close()
        assert b"message_start" in first
        assert sent_by_then < len(frames), "the first frame came only once the upstream had sent everything"
        assert first + rest == b"".join(frames)
        assert validate_anthropic_sse(first + rest)["content"][0]["text"] == " word" * 10
