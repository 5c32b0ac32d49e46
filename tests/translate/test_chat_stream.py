"""Anthropic events -> OpenAI chunks (``MessagesToChatStream``), on recorded and synthetic streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from claudegate.errors import StreamProtocolError
from claudegate.translate import (
    MessagesToChatStream,
    chunk_to_sse,
    done_sse,
    validate_chat_sse,
    validate_chat_stream,
)
from tests.translate._wire import ANTHROPIC_FIXTURES, read_data

FINISH_BY_STOP = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def translate(events: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    stream = MessagesToChatStream(**options)
    chunks = [chunk for event in events for chunk in stream.feed(event)]
    return chunks + stream.finish()


def expected_from_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the fixture says: text of text blocks, each client tool call, stop reason, usage."""
    kinds: dict[int, str] = {}
    text = ""
    calls: list[dict[str, str]] = []
    usage: dict[str, Any] = {}
    stop_reason = None
    for event in events:
        if event["type"] == "message_start":
            usage = dict(event["message"]["usage"])
        elif event["type"] == "content_block_start":
            block = event["content_block"]
            kinds[event["index"]] = block["type"]
            if block["type"] == "tool_use":
                calls.append({"id": block["id"], "name": block["name"], "arguments": ""})
        elif event["type"] == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta" and kinds[event["index"]] == "text":
                text += delta["text"]
            elif delta["type"] == "input_json_delta" and kinds[event["index"]] == "tool_use":
                calls[-1]["arguments"] += delta["partial_json"]
        elif event["type"] == "message_delta":
            stop_reason = event["delta"]["stop_reason"]
            usage.update(event["usage"])
    return {"text": text, "calls": calls, "stop_reason": stop_reason, "usage": usage}


@pytest.mark.parametrize("path", ANTHROPIC_FIXTURES, ids=lambda p: p.name)
def test_every_anthropic_fixture_becomes_a_valid_openai_stream(path: Path) -> None:
    events = read_data(path)
    expected = expected_from_events(events)
    chunks = translate(events, include_usage=True, created=1700000000)

    result = validate_chat_stream(chunks, include_usage=True)
    message_id = events[0]["message"]["id"]
    assert result["id"] == "chatcmpl-" + message_id.removeprefix("msg_")
    assert result["created"] == 1700000000
    assert result["content"] == expected["text"]
    assert [(c["id"], c["function"]["name"]) for c in result["tool_calls"]] == [
        (c["id"], c["name"]) for c in expected["calls"]
    ]
    assert [c["function"]["arguments"] for c in result["tool_calls"]] == [
        c["arguments"] or "{}" for c in expected["calls"]
    ]
    assert result["finish_reason"] == FINISH_BY_STOP[expected["stop_reason"]]
    usage = expected["usage"]
    prompt = usage["input_tokens"] + usage.get("cache_creation_input_tokens", 0)
    prompt += usage.get("cache_read_input_tokens", 0)
    assert result["usage"]["prompt_tokens"] == prompt
    assert result["usage"]["completion_tokens"] == usage["output_tokens"]
    assert result["usage"]["prompt_tokens_details"] == {
        "cached_tokens": usage.get("cache_read_input_tokens", 0)
    }


@pytest.mark.parametrize("path", ANTHROPIC_FIXTURES, ids=lambda p: p.name)
def test_the_official_openai_sdk_accumulates_the_translation(path: Path) -> None:
    events = read_data(path)
    expected = expected_from_events(events)
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for item in translate(events, include_usage=True):
        state.handle_chunk(ChatCompletionChunk.model_validate(item))
    snapshot = state.current_completion_snapshot
    message = snapshot.choices[0].message
    assert (message.content or "") == expected["text"]
    assert [(c.id, c.function.name) for c in message.tool_calls or []] == [
        (c["id"], c["name"]) for c in expected["calls"]
    ]
    assert (
        snapshot.usage is not None and snapshot.usage.completion_tokens == expected["usage"]["output_tokens"]
    )


def test_sse_framing_is_data_only_and_ends_with_done() -> None:
    events = read_data(ANTHROPIC_FIXTURES[0])
    raw = b"".join(chunk_to_sse(c) for c in translate(events)) + done_sse()
    assert raw.endswith(b"data: [DONE]\n\n")
    assert b"event:" not in raw
    assert validate_chat_sse(raw, include_usage=False)["content"] == "Hello there!"


def start(message_id: str = "msg_1", **usage: int) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": message_id,
            "model": "claude-test",
            "content": [],
            "usage": usage or {"input_tokens": 3},
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": payload}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def end(stop_reason: str, output_tokens: int = 5) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]


def tool(index: int, call_id: str, name: str, *fragments: str) -> list[dict[str, Any]]:
    head = [block_start(index, {"type": "tool_use", "id": call_id, "name": name, "input": {}})]
    parts = [delta(index, {"type": "input_json_delta", "partial_json": f}) for f in fragments]
    return [*head, *parts, stop(index)]


def test_the_first_chunk_is_the_role_chunk() -> None:
    chunks = MessagesToChatStream(model="gpt-alias").feed(start())
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[0]["model"] == "gpt-alias"
    assert chunks[0]["id"] == "chatcmpl-1"


def test_a_call_without_input_fragments_sends_an_empty_object() -> None:
    events = [start(), *tool(0, "toolu_a", "now", ""), *end("tool_use")]
    result = validate_chat_stream(translate(events))
    assert result["tool_calls"][0]["function"]["arguments"] == "{}"


def test_the_response_format_tool_comes_back_as_content() -> None:
    events = [start(), *tool(0, "toolu_a", "weather_report", '{"temp', '": 21}'), *end("tool_use")]
    result = validate_chat_stream(translate(events, response_tool="weather_report"))
    assert orjson.loads(result["content"]) == {"temp": 21}
    assert result["tool_calls"] == []
    assert result["finish_reason"] == "stop"


def test_without_include_usage_there_is_no_usage_chunk() -> None:
    events = [start(), block_start(0, {"type": "text", "text": ""}), stop(0), *end("end_turn")]
    chunks = translate(events)
    assert all(c["choices"] for c in chunks)
    assert validate_chat_stream(chunks, include_usage=False)["finish_reason"] == "stop"


def test_the_finish_chunk_waits_for_message_stop() -> None:
    stream = MessagesToChatStream(include_usage=True)
    stream.feed(start(input_tokens=10))
    message_delta, message_stop = end("end_turn", output_tokens=4)
    assert stream.feed(message_delta) == []
    finish, usage = stream.feed(message_stop)
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 14


def test_an_error_event_becomes_an_error_chunk_and_ends_the_stream() -> None:
    stream = MessagesToChatStream()
    stream.feed(start())
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert stream.feed(error) == [
        {
            "error": {
                "message": "Overloaded",
                "type": "server_error",
                "param": None,
                "code": "overloaded_error",
            }
        }
    ]
    assert stream.feed(end("end_turn")[0]) == []
    assert stream.finish() == []


def test_unknown_events_blocks_and_deltas_are_skipped() -> None:
    events = [
        start(),
        {"type": "future_event", "data": 1},
        block_start(0, {"type": "future_block"}),
        delta(0, {"type": "future_delta", "x": 1}),
        stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "future_delta", "x": 2}),
        delta(1, {"type": "text_delta", "text": "ok"}),
        stop(1),
        *end("end_turn"),
    ]
    assert validate_chat_stream(translate(events))["content"] == "ok"


@pytest.mark.parametrize(
    "events",
    [
        [block_start(0, {"type": "text", "text": ""})],
        [start(), start()],
        [start(), delta(3, {"type": "text_delta", "text": "x"})],
        [start(), stop(0)],
    ],
    ids=[
        "block before message_start",
        "two message_start",
        "delta of unknown block",
        "stop of unknown block",
    ],
)
def test_impossible_orders_are_protocol_errors(events: list[dict[str, Any]]) -> None:
    stream = MessagesToChatStream()
    with pytest.raises(StreamProtocolError):
        for event in events:
            stream.feed(event)


def test_a_stream_cut_before_message_delta_is_reported() -> None:
    stream = MessagesToChatStream()
    stream.feed(start())
    with pytest.raises(StreamProtocolError, match="before message_delta"):
        stream.finish()
    with pytest.raises(StreamProtocolError, match="before message_start"):
        MessagesToChatStream().finish()
