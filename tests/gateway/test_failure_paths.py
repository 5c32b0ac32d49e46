"""Every failure path ends with an answer in the caller's dialect: an upstream answering the wrong
content type, a gateway bug mid-stream, a stalled in-process simulator, a nonsensical latency
header — and an upstream's 5xx is logged as one line, not as an unhandled traceback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest

from claudegate.gateway import create_app, parse_config
from claudegate.providers import Provider, ProviderRequest, ProviderResponse, ProviderStream
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._upstreams import lifespan
from tests.gateway.conftest import serve, simulator_route

ASK = {"model": "claude-sonnet-5", "max_tokens": 32, "messages": [{"role": "user", "content": "fail"}]}
CHAT = {"model": "claude-sonnet-5", "messages": ASK["messages"]}


class JsonToStreams:
    """An Anthropic upstream that answers a stream request with a JSON body (200)."""

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"id": "msg_1", "type": "message"}'})


def test_an_upstream_answering_json_to_a_stream_request_is_an_upstream_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CG_JSON_UPSTREAM_KEY", "sk-ant-json-upstream-0000")
    with LiveServer(JsonToStreams()) as upstream:
        deployment = {
            "provider": "anthropic",
            "base_url": upstream.base_url,
            "api_key": "env:CG_JSON_UPSTREAM_KEY",
        }
        with serve({"models": [{"name": "*", "deployments": [deployment]}]}) as live:
            reply = _wire.messages(live.base_url, {**ASK, "stream": True})
            assert reply.status == 502
            assert reply.headers["content-type"].startswith("application/json")
            assert reply.json()["error"]["type"] == "api_error"
            assert "content-type 'application/json'" in reply.json()["error"]["message"]
            chat = _wire.chat(live.base_url, {**CHAT, "stream": True})
            assert chat.status == 502 and "error" in chat.json()


class BreaksMidStream(Provider):
    """A provider with a bug: two events, then an exception no library raises on purpose."""

    kind = "simulator"

    async def create(self, request: ProviderRequest) -> ProviderResponse:
        raise RuntimeError("a bug in a provider")

    async def stream(self, request: ProviderRequest) -> ProviderStream:
        return _Broken()


class _Broken(ProviderStream):
    async def events(self) -> AsyncIterator[dict[str, Any]]:
        message: dict[str, Any] = {
            "id": "msg_broken",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        }
        yield {"type": "message_start", "message": message}
        yield {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        raise RuntimeError("a bug in a provider, mid-stream")

    async def aclose(self) -> None:
        return None


def test_a_gateway_bug_mid_stream_ends_the_stream_with_an_error_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(parse_config({"models": [simulator_route()]}))
    app.core.router.routes[0].deployments[0].provider = BreaksMidStream()
    with LiveServer(app) as server:
        reply = _wire.messages(server.base_url, {**ASK, "stream": True})
        assert reply.status == 200
        events = _wire.anthropic_events(reply.body)
        assert [event["type"] for event in events] == ["message_start", "content_block_start", "error"]
        assert events[-1]["error"]["type"] == "api_error"
        chat = _wire.chat(server.base_url, {**CHAT, "stream": True})
        assert chat.status == 200
        assert b'data: {"error":' in chat.body
        whole = _wire.messages(server.base_url, ASK)
        assert whole.status == 500 and whole.json()["error"]["type"] == "api_error"
    assert any("mid-stream" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)


@pytest.mark.parametrize("latency", ["event=nan", "ttft=inf", "event=1e308", "event=-1", "event=abc"])
def test_a_nonsensical_latency_header_is_a_400_in_json_and_stream(gateway: Any, latency: str) -> None:
    for body in (ASK, {**ASK, "stream": True}):
        reply = _wire.messages(gateway.base_url, body, {"x-sim-latency": latency})
        assert reply.status == 400, reply.body[:200]
        assert "x-sim-latency" in reply.json()["error"]["message"]


def test_the_in_process_simulator_obeys_the_gateway_timeouts() -> None:
    config = {"gateway": {"timeouts": {"total": 0.3, "read": 0.3}}, "models": [simulator_route()]}
    with serve(config) as live:
        for body in (ASK, {**ASK, "stream": True}):
            stalled = _wire.messages(live.base_url, body, {"x-sim-fault": "stall"})
            assert stalled.status == 504
            assert stalled.json()["error"]["type"] == "timeout_error"
        chat = _wire.chat(live.base_url, CHAT, {"x-sim-fault": "stall"})
        assert chat.status == 504
        # A stream that goes silent after it began ends with an error frame, not a hang.
        silent = _wire.messages(live.base_url, {**ASK, "stream": True}, {"x-sim-latency": "event=30"})
        assert silent.status == 200
        events = _wire.anthropic_events(silent.body)
        assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "timeout_error"


def test_an_upstream_5xx_is_one_log_line_without_a_traceback(
    gateway: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claudegate")
    assert _wire.messages(gateway.base_url, ASK, {"x-sim-fault": "500"}).status == 500
    assert _wire.messages(gateway.base_url, ASK, {"x-sim-fault": "529"}).status == 529
    mine = [record for record in caplog.records if record.name.startswith("claudegate")]
    assert mine, "the failures are logged"
    assert all(record.exc_info is None for record in mine)
    assert all("unhandled" not in record.getMessage() for record in mine)
