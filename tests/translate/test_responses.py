"""Whole responses: ``message_to_chat_completion`` and ``chat_completion_to_message``."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion

from claudegate.errors import StreamProtocolError, UserError
from claudegate.translate import (
    chat_completion_to_message,
    finish_reason_to_stop_reason,
    message_to_chat_completion,
    stop_reason_to_finish_reason,
)


def claude_message(**overrides: Any) -> dict[str, Any]:
    message = {
        "id": "msg_01XYZ",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "The user wants weather.", "signature": "c2ln"},
            {"type": "text", "text": "Checking "},
            {"type": "text", "text": "now."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "weather",
                "input": {"city": "Paris", "days": [1, 2]},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 20,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 1000,
        },
    }
    message.update(overrides)
    return message


def test_a_message_becomes_a_chat_completion() -> None:
    completion = message_to_chat_completion(claude_message(), created=1700000000)
    assert completion == {
        "id": "chatcmpl-01XYZ",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "claude-sonnet-4-5",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking now.",
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Paris","days":[1,2]}'},
                        }
                    ],
                    "reasoning_content": "The user wants weather.",
                    "reasoning_signature": "c2ln",
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 1110,
            "completion_tokens": 20,
            "total_tokens": 1130,
            "prompt_tokens_details": {"cached_tokens": 1000},
        },
    }
    ChatCompletion.model_validate(completion)


def test_only_tool_calls_means_null_content() -> None:
    message = claude_message(content=[{"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}])
    reply = message_to_chat_completion(message)["choices"][0]["message"]
    assert reply["content"] is None
    assert reply["tool_calls"][0]["function"]["arguments"] == "{}"


def test_the_response_format_tool_becomes_the_text() -> None:
    message = claude_message(
        content=[{"type": "tool_use", "id": "toolu_1", "name": "report", "input": {"temp": 21}}],
    )
    choice = message_to_chat_completion(message, response_tool="report")["choices"][0]
    assert choice["message"]["content"] == '{"temp":21}'
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"


def test_created_defaults_to_now() -> None:
    before = int(time.time())
    assert before <= message_to_chat_completion(claude_message())["created"] <= int(time.time())


def chat_completion(**message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-ABC",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "tool_calls"}],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 30,
            "total_tokens": 1230,
            "prompt_tokens_details": {"cached_tokens": 1024},
        },
    }


def test_a_chat_completion_becomes_a_message() -> None:
    completion = chat_completion(
        content="On it.",
        reasoning_content="hidden",
        tool_calls=[
            {
                "id": "call_9",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
            }
        ],
    )
    message = chat_completion_to_message(completion)
    assert message == {
        "id": "msg_ABC",
        "type": "message",
        "role": "assistant",
        "model": "gpt-4o",
        "content": [
            {"type": "thinking", "thinking": "hidden", "signature": ""},
            {"type": "text", "text": "On it."},
            {"type": "tool_use", "id": "call_9", "name": "weather", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 176,
            "output_tokens": 30,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1024,
        },
    }
    Message.model_validate(message)


def test_a_refusal_becomes_text_and_empty_content_no_block() -> None:
    completion = chat_completion(content="", refusal="I can't help with that.")
    completion["choices"][0]["finish_reason"] = "content_filter"
    message = chat_completion_to_message(completion)
    assert message["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert message["stop_reason"] == "refusal"


def call(arguments: str, call_id: str | None = "c", name: str = "f") -> dict[str, Any]:
    made: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if call_id is not None:
        made["id"] = call_id
    return made


@pytest.mark.parametrize("arguments", ["", "{bad", "3", '{"city": "Os'])
def test_unusable_upstream_arguments_are_a_protocol_error_not_a_client_error(arguments: str) -> None:
    # The upstream broke the protocol: a 502 for the gateway, never a 400 blaming the client.
    with pytest.raises(StreamProtocolError, match="tool call 0") as caught:
        chat_completion_to_message(chat_completion(tool_calls=[call(arguments)]))
    assert not isinstance(caught.value, UserError)


def test_a_completion_without_choices_is_a_protocol_error() -> None:
    with pytest.raises(StreamProtocolError, match="no choice"):
        chat_completion_to_message({"id": "x", "choices": []})


@pytest.mark.parametrize(
    ("arguments", "kept"),
    [
        ('{"city": "Oslo", "days": 3, "unit": "cel', {"city": "Oslo", "days": 3}),
        ('{"city": "Oslo", "tags": ["a", "b', {"city": "Oslo", "tags": ["a"]}),
        ('{"city": "Os', {}),
        ("", {}),
        ('{"city": "Oslo"}', {"city": "Oslo"}),
    ],
)
def test_arguments_cut_by_the_token_limit_keep_what_parses(arguments: str, kept: dict[str, Any]) -> None:
    completion = chat_completion(content="Checking.", tool_calls=[call(arguments)])
    completion["choices"][0]["finish_reason"] = "length"
    message = chat_completion_to_message(completion)
    assert message["content"][1]["input"] == kept
    assert message["stop_reason"] == "max_tokens"
    Message.model_validate(message)


def test_cut_arguments_that_are_not_json_at_all_are_still_a_protocol_error() -> None:
    completion = chat_completion(tool_calls=[call("not json")])
    completion["choices"][0]["finish_reason"] = "length"
    with pytest.raises(StreamProtocolError, match="not a JSON object"):
        chat_completion_to_message(completion)


def test_calls_without_ids_are_numbered_and_bad_ids_stay_apart() -> None:
    calls = [call("{}", None), call("{}", None), call("{}", "a.b"), call("{}", "a:b")]
    message = chat_completion_to_message(chat_completion(tool_calls=calls))
    ids = [block["id"] for block in message["content"]]
    assert ids[:2] == ["toolu_0", "toolu_1"]
    assert ids[2] != ids[3] and all(re.fullmatch(r"a_b_[0-9a-f]{8}", made) for made in ids[2:])


@pytest.mark.parametrize(
    ("first", "second", "repeated"), [("c", "c", "c"), (None, "toolu_0", "toolu_0"), ("a.b", "a.b", "a_b_")]
)
def test_two_calls_with_one_id_are_a_protocol_error(first: str | None, second: str, repeated: str) -> None:
    calls = [call("{}", first), call("{}", second)]
    with pytest.raises(StreamProtocolError, match=f"tool call 1 repeats the id '{repeated}"):
        chat_completion_to_message(chat_completion(tool_calls=calls))


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("a_reason_from_the_future", "stop"),
        (None, "stop"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(stop_reason: str | None, finish_reason: str) -> None:
    assert stop_reason_to_finish_reason(stop_reason) == finish_reason


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        ("something_new", "end_turn"),
        (None, "end_turn"),
    ],
)
def test_finish_reasons_map_to_stop_reasons(finish_reason: str | None, stop_reason: str) -> None:
    assert finish_reason_to_stop_reason(finish_reason) == stop_reason
