"""Anthropic client -> Anthropic upstream: the bytes pass through untouched both ways, usage is tapped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from claudegate.sse import validate_anthropic_sse
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._upstreams import RecordingAnthropic
from tests.gateway.conftest import Live, serve

UPSTREAM_KEY = "sk-ant-api03-upstream-only-0000"
CLIENT_KEY = "sk-ant-client-key-0000"
MODEL = "claude-recorded"
# Spacing, key order and escapes that any re-encoding would change.
UPSTREAM_JSON = (
    b'{"id":  "msg_01Passthrough", "type": "message", "role": "assistant", "model": "claude-recorded",'
    b' "content": [{"type": "text", "text": "caf\\u00e9 \\ud83c\\udf0a"}], "stop_reason": "end_turn",'
    b' "stop_sequence": null, "usage": {"input_tokens": 17, "output_tokens": 5,'
    b' "cache_read_input_tokens": 3, "cache_creation_input_tokens": 0}}  '
)
CLIENT_JSON = (
    b'{"model": "claude-recorded",  "max_tokens": 20, "messages": [{"role": "user", "content": '
    b'"caf\\u00e9?"}], "context_management": {"edits": []}, "output_config": {"effort": "high"}}'
)
HEADERS = {
    "content-type": "application/json",
    "anthropic-version": "2099-12-31",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
    "x-api-key": CLIENT_KEY,
}


@dataclass(frozen=True)
class Setup:
    upstream: RecordingAnthropic
    gateway: Live
    sse: bytes


@pytest.fixture(scope="module")
def setup(fixtures_dir: Path) -> Iterator[Setup]:
    sse = (fixtures_dir / "anthropic" / "tool_use_response.txt").read_bytes()
    upstream = RecordingAnthropic(UPSTREAM_JSON, sse, input_tokens=4242)
    with pytest.MonkeyPatch.context() as patch, LiveServer(upstream) as server:
        patch.setenv("GW_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
        deployment = {
            "provider": "anthropic",
            "base_url": server.base_url,
            "api_key": "env:GW_TEST_UPSTREAM_KEY",
        }
        config = {
            "models": [
                {"name": MODEL, "deployments": [deployment]},
                {"name": "house-alias", "deployments": [{**deployment, "model": MODEL}]},
            ]
        }
        with serve(config) as gateway:
            yield Setup(upstream, gateway, sse)


@pytest.fixture
def live(setup: Setup) -> Setup:
    setup.upstream.requests.clear()
    return setup


def test_a_json_request_and_answer_pass_through_byte_for_byte(live: Setup) -> None:
    reply = _wire.post(live.gateway.base_url, "/v1/messages?beta=true", CLIENT_JSON, HEADERS)
    assert reply.status == 200
    assert reply.body == UPSTREAM_JSON
    [seen] = live.upstream.requests
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/messages", "beta=true")
    assert seen.body == CLIENT_JSON
    assert seen.headers["anthropic-version"] == "2099-12-31"
    assert seen.headers["anthropic-beta"] == HEADERS["anthropic-beta"]


def test_the_upstream_gets_the_deployment_key_never_the_clients(live: Setup) -> None:
    _wire.post(live.gateway.base_url, "/v1/messages", CLIENT_JSON, HEADERS)
    [seen] = live.upstream.requests
    sent = seen.headers.get("x-api-key", "") + seen.headers.get("authorization", "")
    assert UPSTREAM_KEY in sent
    assert CLIENT_KEY not in str(seen.headers)


def test_a_stream_passes_through_byte_for_byte(live: Setup) -> None:
    body = CLIENT_JSON[:-1] + b', "stream": true}'
    reply = _wire.post(live.gateway.base_url, "/v1/messages?beta=true", body, HEADERS)
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert reply.body == live.sse
    validate_anthropic_sse(reply.body)
    [seen] = live.upstream.requests
    assert seen.body == body and seen.query == "beta=true"
    assert seen.headers["anthropic-beta"] == HEADERS["anthropic-beta"]


def test_usage_of_json_answers_is_counted_in_metrics(live: Setup) -> None:
    base = live.gateway.base_url
    before = _wire.metrics(base)
    _wire.post(base, "/v1/messages", CLIENT_JSON, HEADERS)
    after = _wire.metrics(base)
    for kind, count in (("input", 17), ("output", 5), ("cache_read", 3)):
        grown = _wire.metric(after, "claudegate_tokens_total", model=MODEL, kind=kind) - _wire.metric(
            before, "claudegate_tokens_total", model=MODEL, kind=kind
        )
        assert grown == count, kind


def test_usage_of_streams_is_tapped_from_message_start_and_message_delta(live: Setup) -> None:
    events = _wire.anthropic_events(live.sse)
    input_tokens = next(e for e in events if e["type"] == "message_start")["message"]["usage"]["input_tokens"]
    output_tokens = next(e for e in events if e["type"] == "message_delta")["usage"]["output_tokens"]
    base = live.gateway.base_url
    before = _wire.metrics(base)
    _wire.post(base, "/v1/messages", CLIENT_JSON[:-1] + b', "stream": true}', HEADERS)
    after = _wire.metrics(base)

    def grown(kind: str) -> float:
        name = "claudegate_tokens_total"
        return _wire.metric(after, name, model=MODEL, kind=kind) - _wire.metric(
            before, name, model=MODEL, kind=kind
        )

    assert (grown("input"), grown("output")) == (input_tokens, output_tokens)


def test_count_tokens_asks_the_upstream_and_is_not_marked_an_estimate(live: Setup) -> None:
    body = b'{"model": "claude-recorded", "messages": [{"role": "user", "content": "hi"}]}'
    reply = _wire.post(live.gateway.base_url, "/v1/messages/count_tokens?beta=true", body, HEADERS)
    assert reply.status == 200
    assert reply.json() == {"input_tokens": 4242}
    assert "x-token-count-estimate" not in reply.headers
    [seen] = live.upstream.requests
    assert (seen.path, seen.query, seen.body) == ("/v1/messages/count_tokens", "beta=true", body)


def test_answers_carry_request_ids_and_the_upstream_latency(live: Setup) -> None:
    json_reply = _wire.post(live.gateway.base_url, "/v1/messages", CLIENT_JSON, HEADERS)
    stream_reply = _wire.post(
        live.gateway.base_url, "/v1/messages", CLIENT_JSON[:-1] + b', "stream": true}', HEADERS
    )
    for reply in (json_reply, stream_reply):
        assert re.fullmatch(r"req_[0-9a-f]{24}", reply.headers["request-id"])
        assert reply.headers["x-request-id"] == reply.headers["request-id"]
        assert float(reply.headers["x-upstream-latency"]) > 0
    assert json_reply.headers["request-id"] != stream_reply.headers["request-id"]
    assert json_reply.headers["content-type"] == "application/json; charset=utf-8"


def test_a_request_without_anthropic_version_gets_the_default_upstream(live: Setup) -> None:
    headers = {key: value for key, value in HEADERS.items() if key != "anthropic-version"}
    reply = _wire.post(live.gateway.base_url, "/v1/messages", CLIENT_JSON, headers)
    assert reply.status == 200
    assert live.upstream.requests[0].headers["anthropic-version"] == "2023-06-01"


def test_a_renamed_model_reaches_the_upstream_with_every_other_field_kept(live: Setup) -> None:
    body = CLIENT_JSON.replace(b'"claude-recorded"', b'"house-alias"')
    reply = _wire.post(live.gateway.base_url, "/v1/messages", body, HEADERS)
    assert reply.status == 200 and reply.body == UPSTREAM_JSON
    sent = live.upstream.requests[0].json()
    assert sent == {**orjson.loads(CLIENT_JSON), "model": MODEL}
