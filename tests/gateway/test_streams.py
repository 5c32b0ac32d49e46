"""Streams: framing, heartbeats on idle streams, tool-stream ``buffer`` mode and ``stream_downgrade``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from claudegate.sse import validate_anthropic_sse
from claudegate.translate import validate_chat_sse
from tests.gateway import _wire
from tests.gateway.conftest import Live, serve

SIM = [{"provider": "simulator", "model": "claude-sonnet-5"}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city", "days"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Local time of a city",
    "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
}
TOOL_ASK = "please call get_weather and get_time for the city of Valparaiso and the port of Rotterdam"


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """Buffered tool streams by default (gateway setting), one route back to passthrough, one downgraded."""
    config = {
        "gateway": {"heartbeat_interval": 0.05, "tool_stream": "buffer"},
        "models": [
            {"name": "claude-fragmented", "tool_stream": "passthrough", "deployments": SIM},
            {
                "name": "claude-downgraded",
                "tool_stream": "passthrough",
                "stream_downgrade": True,
                "deployments": SIM,
            },
            {"name": "*", "deployments": [{"provider": "simulator"}]},
        ],
    }
    with serve(config) as gateway:
        yield gateway


def tool_request(model: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 400,
        "messages": [{"role": "user", "content": TOOL_ASK}],
        "tools": [WEATHER, TIME],
        **fields,
    }


def chat_tool_request(model: str, **fields: Any) -> dict[str, Any]:
    tools = [
        {
            "type": "function",
            "function": {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]},
        }
        for t in (WEATHER, TIME)
    ]
    return {"model": model, "messages": [{"role": "user", "content": TOOL_ASK}], "tools": tools, **fields}


def json_fragments(raw: bytes) -> dict[int, list[str]]:
    """Each tool block's ``input_json_delta`` fragments, by block index."""
    fragments: dict[int, list[str]] = {}
    for event in _wire.anthropic_events(raw):
        if event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use":
            fragments[event["index"]] = []
        elif event["type"] == "content_block_delta" and event["delta"]["type"] == "input_json_delta":
            fragments[event["index"]].append(event["delta"]["partial_json"])
    return fragments


def argument_fragments(raw: bytes) -> dict[int, list[str]]:
    """Each OpenAI tool call's non-empty ``arguments`` fragments, by call index."""
    fragments: dict[int, list[str]] = {}
    for chunk in _wire.chat_chunks(raw):
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or []:
                text = call["function"].get("arguments")
                fragments.setdefault(call["index"], [])
                if text:
                    fragments[call["index"]].append(text)
    return fragments


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_streams_are_served_as_utf8_event_streams(live: Live, path: str) -> None:
    body = {
        "model": "claude-sonnet-5",
        "max_tokens": 20,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    reply = _wire.post(live.base_url, path, body, _wire.ANTHROPIC_HEADERS)
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert reply.headers["request-id"] == reply.headers["x-request-id"]


def test_an_idle_anthropic_stream_gets_keepalive_comments(live: Live) -> None:
    before = _wire.metric(_wire.metrics(live.base_url), "claudegate_heartbeats_total")
    body = {
        "model": "claude-sonnet-5",
        "max_tokens": 30,
        "stream": True,
        "messages": [{"role": "user", "content": "wait"}],
    }
    reply = _wire.messages(live.base_url, body, {"x-sim-latency": "ttft=0.5"})
    assert reply.body.count(b"\n\n: keepalive\n\n") >= 3
    assert "wait" in validate_anthropic_sse(reply.body)["content"][0]["text"]
    assert _wire.metric(_wire.metrics(live.base_url), "claudegate_heartbeats_total") - before >= 3


def test_an_idle_openai_stream_gets_keepalive_comments(live: Live) -> None:
    body = {"model": "claude-sonnet-5", "stream": True, "messages": [{"role": "user", "content": "wait"}]}
    reply = _wire.chat(live.base_url, body, {"x-sim-latency": "ttft=0.5"})
    assert reply.body.count(b"\n\n: keepalive\n\n") >= 3
    assert "wait" in validate_chat_sse(reply.body)["content"]


def test_passthrough_tool_arguments_arrive_in_fragments(live: Live) -> None:
    reply = _wire.messages(live.base_url, tool_request("claude-fragmented", stream=True))
    validate_anthropic_sse(reply.body)
    fragments = json_fragments(reply.body)
    assert len(fragments) == 2
    assert max(len([part for part in parts if part]) for parts in fragments.values()) > 1


def test_buffer_mode_sends_each_tool_input_in_one_valid_delta(live: Live) -> None:
    whole = _wire.messages(live.base_url, tool_request("claude-sonnet-5")).json()
    inputs = [block["input"] for block in whole["content"] if block["type"] == "tool_use"]
    reply = _wire.messages(live.base_url, tool_request("claude-sonnet-5", stream=True))
    message = validate_anthropic_sse(reply.body)
    fragments = json_fragments(reply.body)
    assert [len(parts) for parts in fragments.values()] == [1, 1]
    assert [orjson.loads(parts[0]) for parts in fragments.values()] == inputs
    assert [block["input"] for block in message["content"] if block["type"] == "tool_use"] == inputs


def test_buffer_mode_sends_each_openai_tool_call_in_one_valid_delta(live: Live) -> None:
    fragmented = _wire.chat(live.base_url, chat_tool_request("claude-fragmented", stream=True))
    assert max(len(parts) for parts in argument_fragments(fragmented.body).values()) > 1
    reply = _wire.chat(live.base_url, chat_tool_request("claude-sonnet-5", stream=True))
    result = validate_chat_sse(reply.body)
    fragments = argument_fragments(reply.body)
    assert [len(parts) for parts in fragments.values()] == [1, 1]
    assert [orjson.loads(parts[0]) for parts in fragments.values()] == [
        orjson.loads(call["function"]["arguments"]) for call in result["tool_calls"]
    ]
    assert result["finish_reason"] == "tool_calls"


def test_buffer_mode_repairs_tool_input_cut_by_max_tokens_and_counts_it(live: Live) -> None:
    request = tool_request(
        "claude-sonnet-5", stream=True, max_tokens=3, tool_choice={"type": "tool", "name": "get_weather"}
    )
    before = _wire.metric(_wire.metrics(live.base_url), "claudegate_json_repair_total")
    reply = _wire.messages(live.base_url, request)
    message = validate_anthropic_sse(reply.body)
    assert message["stop_reason"] == "max_tokens"
    [parts] = json_fragments(reply.body).values()
    assert len(parts) == 1 and isinstance(orjson.loads(parts[0]), dict)
    assert _wire.metric(_wire.metrics(live.base_url), "claudegate_json_repair_total") - before == 1


def test_stream_downgrade_answers_a_valid_stream_marked_by_a_header(live: Live) -> None:
    whole = _wire.messages(live.base_url, tool_request("claude-downgraded")).json()
    reply = _wire.messages(live.base_url, tool_request("claude-downgraded", stream=True))
    assert reply.headers["x-stream-downgraded"] == "true"
    assert reply.headers["content-type"] == "text/event-stream; charset=utf-8"
    message = validate_anthropic_sse(reply.body)
    assert message["content"] == whole["content"] and message["stop_reason"] == "tool_use"
    assert message["usage"]["output_tokens"] == whole["usage"]["output_tokens"]


def test_stream_downgrade_in_the_openai_dialect(live: Live) -> None:
    whole = _wire.chat(live.base_url, chat_tool_request("claude-downgraded")).json()
    reply = _wire.chat(live.base_url, chat_tool_request("claude-downgraded", stream=True))
    assert reply.headers["x-stream-downgraded"] == "true"
    result = validate_chat_sse(reply.body)
    expected = whole["choices"][0]["message"]["tool_calls"]
    assert [(c["id"], orjson.loads(c["function"]["arguments"])) for c in result["tool_calls"]] == [
        (c["id"], orjson.loads(c["function"]["arguments"])) for c in expected
    ]


def test_stream_downgrade_leaves_requests_without_tools_streaming(live: Live) -> None:
    body = {
        "model": "claude-downgraded",
        "max_tokens": 20,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    reply = _wire.messages(live.base_url, body)
    assert "x-stream-downgraded" not in reply.headers
    validate_anthropic_sse(reply.body)
