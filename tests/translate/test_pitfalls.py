"""One test per translation pitfall listed at the end of PROTOCOL.md (each a bug seen in the wild)."""

from __future__ import annotations

from typing import Any

import pytest

from claudegate.translate import (
    FINISH_REASONS,
    ChatToMessagesStream,
    MessagesToChatStream,
    TranslationError,
    chat_request_to_messages,
    finish_reason_to_stop_reason,
    message_to_chat_completion,
    stop_reason_to_finish_reason,
    validate_chat_stream,
)
from tests.translate._wire import FIXTURES, check_anthropic_stream, read_data

ANTHROPIC_STOP_REASONS = {
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
}


def to_chat(events: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    stream = MessagesToChatStream(**options)
    return [c for e in events for c in stream.feed(e)] + stream.finish()


def to_messages(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stream = ChatToMessagesStream()
    return [e for c in chunks for e in stream.feed(c)] + stream.finish()


def test_tool_index_counts_tool_calls_not_content_blocks() -> None:
    # The tool_use block is block 1 (after a text block): its OpenAI index must still be 0.
    events = read_data(FIXTURES / "anthropic" / "tool_use_response.txt")
    calls = [
        call
        for chunk in to_chat(events)
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls", [])
    ]
    assert {call["index"] for call in calls} == {0}
    assert validate_chat_stream(to_chat(events))["tool_calls"][0]["id"] == "toolu_01NRLabsLyVHZPKxbKvkfSMn"


def test_streamed_tool_arguments_are_never_lost_to_an_empty_object() -> None:
    events = read_data(FIXTURES / "anthropic" / "tool_use_response.txt")
    assert (
        validate_chat_stream(to_chat(events))["tool_calls"][0]["function"]["arguments"]
        == '{"location": "Paris"}'
    )
    message = check_anthropic_stream(to_messages(read_data(FIXTURES / "openai" / "tool_call_2.sse")))
    assert message["content"][0]["input"] == {"city": "New York City"}


def test_empty_argument_fragments_are_not_sent_as_deltas() -> None:
    # Anthropic's first input_json_delta is usually "": it must not become an empty delta.
    events = read_data(FIXTURES / "anthropic" / "tool_use_response.txt")
    fragments = [
        call["function"].get("arguments")
        for chunk in to_chat(events)
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls", [])
        if "id" not in call
    ]
    assert fragments and all(fragments)


def test_empty_arguments_in_a_request_are_an_error_not_an_empty_object() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": ""}}
    body = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ]
    }
    with pytest.raises(TranslationError, match="arguments"):
        chat_request_to_messages(body)


def test_empty_content_never_becomes_an_empty_text_block() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    body = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": ""},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "ok"}]},
        ]
    }
    result = chat_request_to_messages(body)
    blocks = [b for m in result["messages"] if isinstance(m["content"], list) for b in m["content"]]
    assert all(b.get("text") != "" for b in blocks)
    assert [m["role"] for m in result["messages"]] == ["user", "assistant", "user"]
    # The streamed direction: OpenAI's role chunk carries content "" and must open no block.
    events = to_messages(read_data(FIXTURES / "openai" / "tool_call_2.sse"))
    assert [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"] == ["tool_use"]


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        (
            [{"role": "user", "content": "Hi"}, {"role": "tool", "tool_call_id": "c9", "content": "x"}],
            "messages[1]",
        ),
        (
            [
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                        {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "x"},
                {"role": "user", "content": "next"},
            ],
            "messages[1].tool_calls[1]",
        ),
        (
            [
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
                },
            ],
            "messages[1].tool_calls[0]",
        ),
    ],
    ids=["orphan tool result", "call without result before next turn", "call without result at the end"],
)
def test_unpaired_tool_calls_and_results_name_the_message(messages: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(TranslationError) as caught:
        chat_request_to_messages({"messages": messages})
    assert caught.value.field is not None and caught.value.field.startswith(field)
    assert field in caught.value.message


def test_finish_and_stop_reasons_are_never_invented() -> None:
    for stop_reason in [*ANTHROPIC_STOP_REASONS, "error", "something_new", None]:
        assert stop_reason_to_finish_reason(stop_reason) in FINISH_REASONS
    for finish_reason in [*FINISH_REASONS, "error", None]:
        assert finish_reason_to_stop_reason(finish_reason) in ANTHROPIC_STOP_REASONS


def test_thinking_never_leaks_into_content() -> None:
    events = read_data(FIXTURES / "anthropic" / "stream-a-refusal.sse")
    result = validate_chat_stream(to_chat(events))
    assert result["content"] == "Hi"
    assert "solar eclipse" in result["reasoning_content"]
    message = {
        "content": [
            {"type": "thinking", "thinking": "secret plan", "signature": "s"},
            {"type": "text", "text": "Hi"},
        ]
    }
    assert message_to_chat_completion(message)["choices"][0]["message"]["content"] == "Hi"


def test_cache_tokens_are_counted_once() -> None:
    usage = {
        "input_tokens": 5,
        "output_tokens": 7,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 2000,
    }
    completion = message_to_chat_completion({"content": [], "usage": usage})
    assert completion["usage"]["prompt_tokens"] == 2305
    assert completion["usage"]["prompt_tokens_details"]["cached_tokens"] == 2000
    assert completion["usage"]["total_tokens"] == 2312


def test_more_than_one_choice_is_rejected() -> None:
    with pytest.raises(TranslationError) as caught:
        chat_request_to_messages({"messages": [{"role": "user", "content": "Hi"}], "n": 3})
    assert caught.value.param == "n"


def test_usage_is_in_message_start_and_in_the_final_chunk() -> None:
    chunks = to_chat(read_data(FIXTURES / "anthropic" / "basic_response.txt"), include_usage=True)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 6
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    events = to_messages(read_data(FIXTURES / "openai" / "text_with_usage.sse"))
    assert "usage" in events[0]["message"]
    assert next(e for e in events if e["type"] == "message_delta")["usage"]["output_tokens"] == 30


def test_one_message_start_and_no_overlapping_blocks() -> None:
    events = to_messages(read_data(FIXTURES / "openai" / "parallel_tool_calls.sse"))
    assert [e["type"] for e in events].count("message_start") == 1
    opened: list[int] = []
    for event in events:
        if event["type"] == "content_block_start":
            assert not opened
            opened.append(event["index"])
        elif event["type"] == "content_block_stop":
            assert opened == [event["index"]]
            opened.clear()
