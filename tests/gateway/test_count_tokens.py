"""``POST /v1/messages/count_tokens``: the upstream's own count when it has one, else a marked estimate."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway import _wire
from tests.gateway.conftest import Live
from tests.gateway.test_chat_completions import PNG_1X1

MODEL = "claude-sonnet-5"
TOOL = {
    "name": "get_weather",
    "description": "The weather forecast for a city, day by day.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
REQUESTS: dict[str, dict[str, Any]] = {
    "short": {"messages": [{"role": "user", "content": "hi"}]},
    "long": {"messages": [{"role": "user", "content": "the tide comes in twice a day " * 200}]},
    "system and tools": {
        "system": [
            {"type": "text", "text": "You are a pilot. " * 40, "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {"role": "user", "content": "weather in Oslo?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Oslo"}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "rain"}],
            },
        ],
        "tools": [TOOL],
        "tool_choice": {"type": "auto"},
    },
    "image": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1},
                    },
                    {"type": "text", "text": "what is this"},
                ],
            }
        ]
    },
}


def count(base_url: str, request: dict[str, Any]) -> _wire.Reply:
    return _wire.post(
        base_url, "/v1/messages/count_tokens", {"model": MODEL, **request}, _wire.ANTHROPIC_HEADERS
    )


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_the_simulators_count_equals_the_usage_of_the_same_request(gateway: Live, name: str) -> None:
    request = REQUESTS[name]
    reply = count(gateway.base_url, request)
    assert reply.status == 200, reply.body
    assert "x-token-count-estimate" not in reply.headers
    answer = _wire.messages(gateway.base_url, {"model": MODEL, "max_tokens": 16, **request}).json()
    usage = answer["usage"]
    total_input = (
        usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
    )
    assert reply.json() == {"input_tokens": total_input}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_without_an_upstream_count_an_upward_estimate_is_marked(
    gateway: Live, openai_backed: Live, name: str
) -> None:
    request = REQUESTS[name]
    reply = count(openai_backed.base_url, request)
    assert reply.status == 200, reply.body
    assert reply.headers["x-token-count-estimate"] == "true"
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    simulated = count(gateway.base_url, request).json()["input_tokens"]
    assert reply.json()["input_tokens"] >= simulated


def test_count_tokens_names_a_missing_field(gateway: Live) -> None:
    reply = _wire.post(
        gateway.base_url, "/v1/messages/count_tokens", {"model": MODEL}, _wire.ANTHROPIC_HEADERS
    )
    assert reply.status == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert "messages" in reply.json()["error"]["message"]
