"""Responses requests -> Anthropic Messages requests: input items, tools, formats, reasoning, and
every parameter that cannot be served refused by name."""

from __future__ import annotations

import inspect
from typing import Any

import orjson
import pytest

import claudegate.translate.responses as responses
from claudegate.translate import TranslationError
from claudegate.translate.responses import (
    REASONING_BUDGETS,
    conversation_with,
    message_to_response,
    response_shell,
    responses_request_to_messages,
)
from tests.translate._wire import FIXTURES

PNG = "data:image/png;base64,iVBORw0KGgo="


def translate(**body: Any) -> dict[str, Any]:
    return responses_request_to_messages({"model": "claude-x", **body})


def test_the_public_names_are_exported_and_documented() -> None:
    for name in responses.__all__:
        value = getattr(responses, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_messages_parts_and_system_texts() -> None:
    request = translate(
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Answer in French."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": PNG, "detail": "auto"},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "output_text", "text": "A pixel.", "annotations": []}],
            },
            {"role": "user", "content": "Sure?"},
        ],
        max_output_tokens=50,
        temperature=1.7,
    )
    assert request["system"] == "Be brief.\nAnswer in French."
    assert request["max_tokens"] == 50 and request["temperature"] == 1.0
    assert request["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                },
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "A pixel."}]},
        {"role": "user", "content": [{"type": "text", "text": "Sure?"}]},
    ]


def test_parallel_calls_and_their_outputs_pair_up() -> None:
    request = translate(
        input=[
            {"role": "user", "content": "Weather and time?"},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Oslo"}'},
            {"type": "function_call", "call_id": "call_2", "name": "time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "cold"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "noon"}],
            },
        ],
        tools=[{"type": "function", "name": "weather", "parameters": {"type": "object"}, "strict": True}],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    assert request["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}},
                {"type": "tool_use", "id": "call_2", "name": "time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "cold"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": [{"type": "text", "text": "noon"}],
                },
            ],
        },
    ]
    assert request["tools"] == [{"name": "weather", "input_schema": {"type": "object"}}]
    assert request["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_recorded_output_items_come_back_as_input() -> None:
    turn1 = orjson.loads((FIXTURES / "responses" / "function-call.turn1.json").read_bytes())
    [call] = turn1["output"]
    request = translate(
        input=[
            {"role": "user", "content": "What should I wear?"},
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "22C"},
        ]
    )
    [tool_use] = request["messages"][1]["content"]
    assert tool_use["id"] == call["call_id"] and tool_use["input"] == orjson.loads(call["arguments"])


def test_history_is_continued_and_the_answer_joins_it() -> None:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
    ]
    request = responses_request_to_messages(
        {"model": "m", "input": [{"type": "function_call_output", "call_id": "t1", "output": "sun"}]},
        history=history,
    )
    assert request["messages"][:2] == history and request["messages"][2]["role"] == "user"
    answered = conversation_with(request["messages"], {"content": [{"type": "text", "text": "Sunny."}]})
    assert answered[-1] == {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]}
    assert conversation_with(request["messages"], {"content": []}) == request["messages"]


def test_structured_output_and_reasoning() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    request = translate(
        input="Numbers",
        text={"format": {"type": "json_schema", "name": "numbers", "schema": schema, "strict": True}},
        reasoning={"effort": "high", "summary": "auto"},
    )
    assert request["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert request["thinking"] == {"type": "enabled", "budget_tokens": REASONING_BUDGETS["high"]}
    assert request["max_tokens"] == 4096 + REASONING_BUDGETS["high"]  # room left for the answer
    capped = translate(input="x", reasoning={"effort": "max"}, max_output_tokens=2000)
    assert capped["thinking"]["budget_tokens"] == 1999 and capped["max_tokens"] == 2000
    assert "thinking" not in translate(input="x", reasoning={"effort": "none"})
    summary_only = translate(input="x", reasoning={"summary": "auto"})
    assert summary_only["thinking"]["budget_tokens"] == REASONING_BUDGETS["medium"]


def test_a_reasoning_item_replays_the_thinking_block_it_came_from() -> None:
    thinking = {"type": "thinking", "thinking": "Let me think.", "signature": "c2ln"}
    shell = response_shell({"model": "m"}, response_id="resp_1", created_at=0, store=False)
    answer = message_to_response({"content": [thinking, {"type": "text", "text": "Hi"}]}, shell)
    reasoning = answer["output"][0]
    request = translate(input=[{"role": "user", "content": "Hi"}, reasoning])
    assert request["messages"][1] == {"role": "assistant", "content": [thinking]}
    unsigned = {**reasoning}
    del unsigned["encrypted_content"]  # a summary alone cannot be replayed: left out
    assert len(translate(input=[{"role": "user", "content": "Hi"}, unsigned])["messages"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": 3}, "input"),
        ({"input": []}, "input"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "computer_call_output", "call_id": "c"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].file_id",
        ),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"}]},
            "input[0].arguments",
        ),
        ({"input": [{"type": "function_call_output", "call_id": "nobody", "output": "x"}]}, "input"),
        ({"input": [{"type": "reasoning", "encrypted_content": "cgr1.@@"}]}, "input[0].encrypted_content"),
        ({"tools": [{"type": "web_search_preview"}]}, "tools[0].type"),
        ({"tools": [{"type": "mcp", "server_label": "x"}]}, "tools[0].type"),
        ({"tools": [{"type": "custom", "name": "x"}]}, "tools[0].type"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": {"type": "allowed_tools", "tools": []}}, "tool_choice"),
        ({"background": True}, "background"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"conversation": {"id": "conv_1"}}, "conversation"),
        ({"truncation": "auto"}, "truncation"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"service_tier": "flex"}, "service_tier"),
        ({"include": ["message.output_text.logprobs"]}, "include[0]"),
        ({"text": {"verbosity": "low"}}, "text.verbosity"),
        ({"text": {"format": {"type": "grammar"}}}, "text.format.type"),
        ({"reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"reasoning": {"effort": "low"}, "max_output_tokens": 1000}, "max_output_tokens"),
        ({"reasoning": {"effort": "low"}, "top_p": 0.5}, "top_p"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"metadata": {"n": 1}}, "metadata"),
        # Objects where a name is expected (found by the fuzzer: they were unhashable, a 500).
        ({"input": [{"type": "message", "role": {"r": 1}, "content": "x"}]}, "input[0].role"),
        ({"reasoning": {"summary": {"s": 1}}}, "reasoning.summary"),
        ({"include": [{"i": 1}]}, "include[0]"),
    ],
)
def test_what_cannot_be_served_is_refused_by_name(body: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError) as refused:
        translate(**{"input": "Hi", **body})
    assert refused.value.field == field
