"""Prompt caching asked by OpenAI clients: ``cache_control`` kept on blocks, system text and tools;
and the input estimate a translated stream starts with."""

from __future__ import annotations

from typing import Any

from claudegate.translate import chat_request_to_messages, estimate_input_tokens

EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}


def test_cache_control_on_parts_and_messages_lands_on_the_blocks() -> None:
    body: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Manual", "cache_control": HOUR}]},
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Long doc", "cache_control": EPHEMERAL}]},
            {"role": "assistant", "content": "Read it.", "cache_control": EPHEMERAL},
            {"role": "user", "content": "Question"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "a", "parameters": {"type": "object"}},
                "cache_control": EPHEMERAL,
            },
            {"type": "function", "function": {"name": "b", "cache_control": HOUR}},
        ],
    }
    result = chat_request_to_messages(body)
    assert result["system"] == [
        {"type": "text", "text": "Manual", "cache_control": HOUR},
        {"type": "text", "text": "Be brief."},
    ]
    assert result["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Long doc", "cache_control": EPHEMERAL}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Read it.", "cache_control": EPHEMERAL}]},
        {"role": "user", "content": "Question"},
    ]
    assert [tool.get("cache_control") for tool in result["tools"]] == [EPHEMERAL, HOUR]


def test_without_breakpoints_the_system_prompt_stays_one_string() -> None:
    body = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "A"}]},
            {"role": "user", "content": "x"},
        ]
    }
    assert chat_request_to_messages(body)["system"] == "A"


def test_a_tool_message_with_cache_control_caches_its_result() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "big result", "cache_control": EPHEMERAL},
        ]
    }
    result = chat_request_to_messages(body)["messages"][-1]["content"]
    assert result == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "big result", "cache_control": EPHEMERAL}
    ]


def test_the_estimate_counts_bytes_but_an_image_as_an_image() -> None:
    text = {"messages": [{"role": "user", "content": "x" * 300}]}
    assert 100 <= estimate_input_tokens(text) <= 120
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "A" * 3_000_000},
    }
    with_image = {"messages": [{"role": "user", "content": [image, {"type": "text", "text": "x" * 300}]}]}
    assert 1600 < estimate_input_tokens(with_image) < 1800
