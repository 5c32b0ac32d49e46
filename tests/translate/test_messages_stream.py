"""OpenAI chunks -> Anthropic events (``ChatToMessagesStream``), on recorded and synthetic streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from pydantic import TypeAdapter

from claudegate.errors import StreamProtocolError
from claudegate.translate import ChatToMessagesStream
from tests.translate._wire import OPENAI_FIXTURES, check_anthropic_stream, read_data

SDK_EVENT: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
STOP_BY_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def translate(chunks: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    stream = ChatToMessagesStream(**options)
    events = [event for chunk in chunks for event in stream.feed(chunk)]
    return events + stream.finish()


def expected_from_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What the fixture says, read straight from its first choice."""
    text = ""
    calls: dict[int, dict[str, str]] = {}
    finish_reason = None
    usage: dict[str, Any] = {}
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            if choice["index"] != 0:
                continue
            delta = choice["delta"]
            text += (delta.get("content") or "") + (delta.get("refusal") or "")
            for call in delta.get("tool_calls") or []:
                entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                entry["id"] += call.get("id", "")
                entry["name"] += call["function"].get("name", "")
                entry["arguments"] += call["function"].get("arguments", "")
            finish_reason = choice["finish_reason"] or finish_reason
    return {"text": text, "calls": [calls[k] for k in sorted(calls)], "finish": finish_reason, "usage": usage}


@pytest.mark.parametrize("path", OPENAI_FIXTURES, ids=lambda p: p.name)
def test_every_openai_fixture_becomes_a_valid_anthropic_stream(path: Path) -> None:
    chunks = read_data(path)
    expected = expected_from_chunks(chunks)
    events = translate(chunks)

    message = check_anthropic_stream(events)
    assert [e["type"] for e in events].count("message_start") == 1
    assert message["id"] == "msg_" + chunks[0]["id"].removeprefix("chatcmpl-")
    assert message["model"] == chunks[0]["model"]
    texts = [b["text"] for b in message["content"] if b["type"] == "text"]
    assert "".join(texts) == expected["text"]
    assert all(texts), "no empty text block"
    tools = [b for b in message["content"] if b["type"] == "tool_use"]
    assert [(t["id"], t["name"], t["partial_json"]) for t in tools] == [
        (c["id"], c["name"], c["arguments"]) for c in expected["calls"]
    ]
    assert [t["input"] for t in tools] == [orjson.loads(c["arguments"]) for c in expected["calls"]]
    assert message["stop_reason"] == STOP_BY_FINISH[expected["finish"]]
    assert message["usage"]["input_tokens"] == expected["usage"]["prompt_tokens"]
    assert message["usage"]["output_tokens"] == expected["usage"]["completion_tokens"]


@pytest.mark.parametrize("path", OPENAI_FIXTURES, ids=lambda p: p.name)
def test_the_official_anthropic_sdk_accumulates_the_translation(path: Path) -> None:
    chunks = read_data(path)
    expected = expected_from_chunks(chunks)
    snapshot: Any = None
    buffers: dict[int, bytes] = {}
    for event in translate(chunks):
        typed = SDK_EVENT.validate_python(event)  # the SDK's own models accept every event
        snapshot = accumulate_event(event=typed, current_snapshot=snapshot, json_bufs=buffers)
    final = snapshot.to_dict()
    assert "".join(b["text"] for b in final["content"] if b["type"] == "text") == expected["text"]
    assert [b["input"] for b in final["content"] if b["type"] == "tool_use"] == [
        orjson.loads(c["arguments"]) for c in expected["calls"]
    ]
    assert final["usage"]["output_tokens"] == expected["usage"]["completion_tokens"]


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        **extra,
    }


def call_start(index: int, call_id: str, name: str, arguments: str = "") -> dict[str, Any]:
    return chunk(
        {
            "tool_calls": [
                {
                    "index": index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ]
        }
    )


def call_part(index: int, arguments: str) -> dict[str, Any]:
    return chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})


def test_interleaved_parallel_calls_never_overlap_and_keep_their_arguments() -> None:
    chunks = [
        chunk({"role": "assistant", "content": "Checking both."}),
        call_start(0, "call_a", "weather"),
        call_part(0, '{"city": '),
        call_start(1, "call_b", "stocks"),
        call_part(1, '{"ticker": "AA'),
        call_part(0, '"Paris"'),
        call_part(1, 'PL"}'),
        call_part(0, "}"),
        chunk({}, "tool_calls"),
    ]
    message = check_anthropic_stream(translate(chunks))
    assert [b["type"] for b in message["content"]] == ["text", "tool_use", "tool_use"]
    assert [(b["id"], b["name"], b["input"]) for b in message["content"][1:]] == [
        ("call_a", "weather", {"city": "Paris"}),
        ("call_b", "stocks", {"ticker": "AAPL"}),
    ]
    assert message["stop_reason"] == "tool_use"


def test_a_finished_call_closes_as_soon_as_the_next_one_starts() -> None:
    stream = ChatToMessagesStream()
    stream.feed(chunk({"role": "assistant"}))
    stream.feed(call_start(0, "call_a", "one", '{"x": 1}'))
    events = stream.feed(call_start(1, "call_b", "two"))
    assert [(e["type"], e["index"]) for e in events] == [
        ("content_block_stop", 0),
        ("content_block_start", 1),
    ]
    assert events[1]["content_block"]["id"] == "call_b"


def test_text_after_an_unfinished_call_waits_for_it() -> None:
    chunks = [
        chunk({"role": "assistant"}),
        call_start(0, "call_a", "one", '{"x": '),
        chunk({"content": "later text"}),
        call_part(0, "2}"),
        chunk({}, "tool_calls"),
    ]
    message = check_anthropic_stream(translate(chunks))
    assert [b["type"] for b in message["content"]] == ["tool_use", "text"]
    assert message["content"][0]["input"] == {"x": 2}
    assert message["content"][1]["text"] == "later text"


def test_arguments_after_a_complete_object_are_a_protocol_error() -> None:
    stream = ChatToMessagesStream()
    stream.feed(call_start(0, "call_a", "one", "{}"))
    stream.feed(call_start(1, "call_b", "two"))
    with pytest.raises(StreamProtocolError, match="tool call 0"):
        stream.feed(call_part(0, '"more"'))


def test_calls_without_an_index_are_told_apart_by_id() -> None:
    def loose(call: dict[str, Any]) -> dict[str, Any]:
        return chunk({"tool_calls": [call]})

    chunks = [
        chunk({"role": "assistant"}),
        loose({"id": "call_a", "type": "function", "function": {"name": "one", "arguments": '{"a"'}}),
        loose({"function": {"arguments": ": 1}"}}),
        loose({"id": "call_b", "type": "function", "function": {"name": "two", "arguments": "{}"}}),
        chunk({}, "tool_calls"),
    ]
    message = check_anthropic_stream(translate(chunks))
    assert [(b["id"], b["input"]) for b in message["content"]] == [("call_a", {"a": 1}), ("call_b", {})]


def test_a_forced_call_reported_as_stop_still_ends_with_tool_use() -> None:
    # OpenAI answers a tool_choice naming a function with finish_reason "stop".
    chunks = [call_start(0, "call_a", "one", "{}"), chunk({}, "stop")]
    assert check_anthropic_stream(translate(chunks))["stop_reason"] == "tool_use"


def test_usage_comes_from_the_final_usage_chunk() -> None:
    usage: dict[str, Any] = {"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127}
    usage["prompt_tokens_details"] = {"cached_tokens": 100}
    chunks = [chunk({"role": "assistant", "content": "hi"}), chunk({}, "stop"), {**chunk({}), "choices": []}]
    chunks[-1]["usage"] = usage
    events = translate(chunks)
    start = events[0]["message"]["usage"]
    assert start == {"input_tokens": 0, "output_tokens": 0}
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["usage"] == {
        "input_tokens": 20,
        "output_tokens": 7,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 100,
    }


def test_an_error_chunk_becomes_an_error_event_and_ends_the_stream() -> None:
    stream = ChatToMessagesStream()
    stream.feed(chunk({"role": "assistant", "content": "partial"}))
    events = stream.feed({"error": {"message": "boom", "type": "server_error", "param": None, "code": None}})
    assert events == [{"type": "error", "error": {"type": "api_error", "message": "boom"}}]
    assert stream.feed(chunk({"content": "ignored"})) == []
    assert stream.finish() == []


def test_model_can_be_overridden_and_other_choices_are_ignored() -> None:
    first = chunk({"role": "assistant", "content": "A"})
    first["choices"].append({"index": 1, "delta": {"content": "B"}, "finish_reason": None})
    message = check_anthropic_stream(translate([first, chunk({}, "stop")], model="claude-alias"))
    assert message["model"] == "claude-alias"
    assert message["content"] == [{"type": "text", "text": "A"}]


def test_reasoning_content_becomes_a_signed_thinking_block_before_the_text() -> None:
    chunks = [
        chunk({"role": "assistant", "reasoning_content": "hm"}),
        chunk({"reasoning_content": "m"}),
        chunk({"reasoning_signature": "c2ln"}),
        chunk({"content": "ok"}),
        chunk({}, "stop"),
    ]
    events = translate(chunks)
    message = check_anthropic_stream(events)
    assert message["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": "c2ln"},
        {"type": "text", "text": "ok"},
    ]
    assert [e["delta"]["type"] for e in events if e["type"] == "content_block_delta"] == [
        "thinking_delta",
        "thinking_delta",
        "signature_delta",
        "text_delta",
    ]


def test_a_reasoning_string_and_a_signature_in_the_same_chunk_as_text() -> None:
    chunks = [
        chunk({"role": "assistant", "reasoning": "think", "reasoning_signature": "c2ln", "content": "A"}),
        chunk({"content": "B"}, "stop"),
    ]
    message = check_anthropic_stream(translate(chunks))
    assert message["content"] == [
        {"type": "thinking", "thinking": "think", "signature": "c2ln"},
        {"type": "text", "text": "AB"},
    ]


def test_message_start_carries_the_first_chunks_usage_else_the_marked_estimate() -> None:
    body = [chunk({"role": "assistant", "content": "A"}), chunk({}, "stop")]
    final = {**chunk({}), "choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 2}}
    events = translate([*body, final], input_tokens=37)
    assert events[0]["message"]["usage"] == {"input_tokens": 37, "output_tokens": 0}
    assert events[0]["input_tokens_estimated"] is True
    assert check_anthropic_stream(events)["usage"]["input_tokens"] == 40
    assert events[-2]["usage"]["input_tokens"] == 40
    early = {**body[0], "usage": {"prompt_tokens": 40, "completion_tokens": 0}}
    start = translate([early, body[1], final], input_tokens=37)[0]
    assert start["message"]["usage"]["input_tokens"] == 40 and "input_tokens_estimated" not in start
    assert translate([*body, final])[0]["message"]["usage"]["input_tokens"] == 0


@pytest.mark.parametrize(
    ("chunks", "problem"),
    [
        ([], "before its first chunk"),
        ([chunk({"role": "assistant", "content": "cut"})], "without a finish_reason"),
    ],
)
def test_a_stream_that_ends_early_is_reported(chunks: list[dict[str, Any]], problem: str) -> None:
    stream = ChatToMessagesStream()
    for item in chunks:
        stream.feed(item)
    with pytest.raises(StreamProtocolError, match=problem):
        stream.finish()
