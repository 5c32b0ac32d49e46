"""Reasoning across dialects: OpenAI ``reasoning_effort`` -> Claude's thinking -> ``reasoning_content``
(with ``reasoning_signature``) and back, and an OpenAI upstream's ``reasoning_content`` -> thinking."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.gateway import _wire
from tests.gateway.dialects._routes import ROUTES, Routes

TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "lookup_tide",
        "description": "Tide table of a port",
        "parameters": {"type": "object", "properties": {"port": {"type": "string"}}, "required": ["port"]},
    },
}


def extra(model: Any) -> dict[str, Any]:
    return dict(model.model_extra or {})


@pytest.mark.parametrize("route", ROUTES)
def test_reasoning_effort_brings_reasoning_content_json_and_stream(gpt: openai.OpenAI, route: str) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "why is the tide late in Hull"}]
    completion = gpt.chat.completions.create(
        model=f"route-{route}", messages=messages, reasoning_effort="low"
    )
    message = completion.choices[0].message
    reasoning = extra(message)
    assert reasoning["reasoning_content"] and reasoning["reasoning_signature"]
    assert message.content and reasoning["reasoning_content"] not in message.content

    stream = gpt.chat.completions.create(
        model=f"route-{route}", messages=messages, reasoning_effort="low", stream=True
    )
    streamed: dict[str, str] = {"reasoning_content": "", "reasoning_signature": "", "content": ""}
    order: list[str] = []
    for chunk in stream:
        for choice in chunk.choices:
            fields = {**extra(choice.delta), "content": choice.delta.content}
            for key in streamed:
                if fields.get(key):
                    streamed[key] += fields[key]
                    order.append(key)
    assert streamed == {**reasoning, "content": message.content}
    assert order.index("content") > order.index("reasoning_signature") > order.index("reasoning_content")


def test_without_reasoning_there_is_no_reasoning_content(gpt: openai.OpenAI) -> None:
    for route in ROUTES:
        completion = gpt.chat.completions.create(
            model=f"route-{route}", messages=[{"role": "user", "content": "hello"}]
        )
        assert "reasoning_content" not in extra(completion.choices[0].message), route


@pytest.mark.parametrize("route", ROUTES)
def test_signed_reasoning_replayed_in_a_tool_loop_stays_valid(gpt: openai.OpenAI, route: str) -> None:
    """The simulator checks thinking signatures as the live API does: a replay that lost or
    changed the thinking would be refused on the simulator and Anthropic routes."""
    messages: list[Any] = [{"role": "user", "content": "use lookup_tide for Hull"}]
    first = gpt.chat.completions.create(
        model=f"route-{route}", messages=messages, tools=[TOOL], reasoning_effort="medium"
    )
    reply = first.choices[0].message
    assert reply.tool_calls and first.choices[0].finish_reason == "tool_calls"
    turn = reply.model_dump(exclude_none=True)
    assert turn["reasoning_signature"]
    messages += [
        turn,
        {"role": "tool", "tool_call_id": reply.tool_calls[0].id, "content": "high water 14:02"},
    ]
    second = gpt.chat.completions.create(
        model=f"route-{route}", messages=messages, tools=[TOOL], reasoning_effort="medium"
    )
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content

    if route != "openai":  # an OpenAI upstream gets no thinking back, so cannot check it
        forged: Any = {**turn, "reasoning_content": turn["reasoning_content"] + " (edited)"}
        with pytest.raises(openai.BadRequestError, match="signature"):
            gpt.chat.completions.create(
                model=f"route-{route}",
                messages=[messages[0], forged, messages[2]],
                tools=[TOOL],
                reasoning_effort="medium",
            )


def test_the_openai_upstream_is_asked_with_reasoning_effort(routes: Routes, gpt: openai.OpenAI) -> None:
    routes.upstream.simulator.log.clear()
    gpt.chat.completions.create(
        model="route-openai", messages=[{"role": "user", "content": "hi"}], reasoning_effort="high"
    )
    (entry,) = routes.log("/v1/chat/completions")
    assert "reasoning_effort" in entry["fields"] and "thinking" not in entry["fields"]


def test_an_anthropic_client_gets_thinking_from_an_upstream_reasoning_content(
    claude: anthropic.Anthropic,
) -> None:
    """On the OpenAI route the thinking crosses the upstream as ``reasoning_content``."""
    params: dict[str, Any] = {
        "model": "route-openai",
        "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [{"role": "user", "content": "why is the tide late in Hull"}],
    }
    whole = claude.messages.create(**params)
    with claude.messages.stream(**params) as stream:
        final = stream.get_final_message()
    assert [block.type for block in whole.content] == ["thinking", "text"]
    thinking = whole.content[0]
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in whole.content]


def test_thinking_sent_by_an_openai_client_as_anthropic_would_take_it(routes: Routes) -> None:
    body = {
        "model": "route-simulator",
        "max_completion_tokens": 3000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "think first"}],
    }
    reply = _wire.chat(routes.gateway.base_url, body)
    assert reply.status == 200 and reply.json()["choices"][0]["message"]["reasoning_content"]
    bad = _wire.chat(routes.gateway.base_url, {**body, "reasoning_effort": None, "thinking": {"type": "on"}})
    assert bad.status == 400 and bad.json()["error"]["param"] == "thinking"
