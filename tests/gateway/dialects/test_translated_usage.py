"""Usage across dialects: prompt caching asked by OpenAI clients, and input counts on translated streams."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionToolParam

from claudegate.sse import validate_anthropic_sse
from tests.gateway import _wire
from tests.gateway.dialects._routes import Routes

# Long enough to pass the simulator's (and the live API's) 1,024-token minimum for a cache entry.
MANUAL = " ".join(f"Rule {n}: berth ships by draught, tide and pilot availability." for n in range(300))
EPHEMERAL = {"type": "ephemeral"}


@pytest.mark.parametrize("route", ["simulator", "anthropic"])
def test_cache_control_on_openai_parts_reaches_claude_and_reads_come_back(
    gpt: openai.OpenAI, route: str
) -> None:
    system: Any = {
        "role": "system",
        "content": [{"type": "text", "text": MANUAL, "cache_control": EPHEMERAL}],
    }
    question: Any = {"role": "user", "content": f"({route}) which berth for a 9 m draught?"}
    first = gpt.chat.completions.create(model=f"route-{route}", messages=[system, question])
    second = gpt.chat.completions.create(model=f"route-{route}", messages=[system, question])
    assert first.usage is not None and second.usage is not None
    assert first.usage.prompt_tokens_details is not None and second.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached is not None and cached > 1024
    assert second.usage.prompt_tokens == first.usage.prompt_tokens  # a read is counted once, not twice


def test_cache_control_on_a_tool_is_a_breakpoint_too(gpt: openai.OpenAI) -> None:
    tool: ChatCompletionToolParam = {
        "type": "function",
        "function": {
            "name": "berth",
            "description": MANUAL,
            "parameters": {"type": "object", "properties": {}},
        },
        "cache_control": EPHEMERAL,  # type: ignore[typeddict-unknown-key]
    }
    question: Any = {"role": "user", "content": "say hi, no tools"}
    usages = [
        gpt.chat.completions.create(model="route-anthropic", messages=[question], tools=[tool]).usage
        for _ in range(2)
    ]
    cached = [u.prompt_tokens_details.cached_tokens for u in usages if u and u.prompt_tokens_details]
    assert len(cached) == 2 and cached[0] == 0 and (cached[1] or 0) > 1024


def test_a_bad_cache_control_is_a_400_naming_the_field(routes: Routes) -> None:
    body = {
        "model": "route-simulator",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"ttl": "1h"}}]}
        ],
    }
    reply = _wire.chat(routes.gateway.base_url, body)
    assert reply.status == 400 and reply.json()["error"]["param"] == "messages[0].content[0].cache_control"


def test_message_start_from_an_openai_upstream_carries_a_marked_estimate_then_the_exact_count(
    routes: Routes,
) -> None:
    body = {
        "model": "route-openai",
        "max_tokens": 100,
        "stream": True,
        "system": "Answer in one line.",
        "messages": [{"role": "user", "content": "what time is high water in Hull today"}],
    }
    reply = _wire.messages(routes.gateway.base_url, body)
    assert reply.status == 200
    events = _wire.anthropic_events(reply.body)
    assert events[0]["input_tokens_estimated"] is True
    start = events[0]["message"]["usage"]
    assert start["input_tokens"] > 0
    exact = _wire.messages(routes.gateway.base_url, {**body, "stream": False}).json()["usage"]["input_tokens"]
    final = validate_anthropic_sse(reply.body)["usage"]
    assert final["input_tokens"] == exact
    # An upward-biased estimate: never below the real count, and not absurdly above it.
    assert exact <= start["input_tokens"] <= 10 * exact
