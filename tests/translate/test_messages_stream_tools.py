"""Tool calls in OpenAI streams (``ChatToMessagesStream``): arguments, token-limit cuts, ids."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from claudegate.errors import StreamProtocolError
from claudegate.sse import validate_anthropic_events
from claudegate.translate import ChatToMessagesStream, _messages_stream, chat_completion_to_message

SDK_EVENT: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def call(index: int, arguments: str, call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        made["type"] = "function"
        made["function"]["name"] = name
        if call_id is not None:
            made["id"] = call_id
    return chunk({"tool_calls": [made]})


def translate(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stream = ChatToMessagesStream()
    return [event for item in chunks for event in stream.feed(item)] + stream.finish()


def completion(tool_calls: list[dict[str, Any]], finish_reason: str) -> dict[str, Any]:
    """The whole-response form of the same answer, for comparing both paths."""
    message = {"role": "assistant", "content": "Checking.", "tool_calls": tool_calls}
    return {
        "id": "chatcmpl-abc",
        "model": "gpt-test",
        "choices": [{"message": message, "finish_reason": finish_reason}],
    }


CUT = '{"city": "Oslo", "days": 3, "unit": "cel'


def test_a_call_cut_by_the_token_limit_stays_open_and_keeps_what_parses() -> None:
    chunks = [chunk({"role": "assistant", "content": "Checking."}), call(0, CUT, "call_a", "weather")]
    events = translate([*chunks, chunk({}, "length")])
    message = validate_anthropic_events(events)  # the live API's shape: a cut block is never stopped
    assert ("content_block_stop", 1) not in [(event["type"], event.get("index")) for event in events]
    assert message["stop_reason"] == "max_tokens"
    assert message["content"][1]["input"] == {"city": "Oslo", "days": 3}
    whole = chat_completion_to_message(
        completion([{"id": "call_a", "function": {"name": "weather", "arguments": CUT}}], "length")
    )
    assert message["content"] == whole["content"]
    snapshot: Any = None
    buffers: dict[int, bytes] = {}
    for event in events:
        snapshot = accumulate_event(
            event=SDK_EVENT.validate_python(event), current_snapshot=snapshot, json_bufs=buffers
        )
    assert snapshot.content[1].input == {"city": "Oslo", "days": 3}


def test_what_waits_behind_a_cut_call_is_dropped_as_no_block_can_follow_an_open_one() -> None:
    chunks = [
        call(0, '{"city": "Os', "call_a", "weather"),
        call(1, '{"ticker": "AAPL"}', "call_b", "stocks"),
        chunk({}, "length"),
    ]
    message = validate_anthropic_events(translate(chunks))
    assert [(block["id"], block["input"]) for block in message["content"]] == [("call_a", {})]
    assert message["stop_reason"] == "max_tokens"


@pytest.mark.parametrize(
    ("fragments", "finish_reason"),
    [
        (['{"city": "Os'], "tool_calls"),
        ([""], "tool_calls"),
        (["[1, 2]"], "stop"),
        (['{"a": 1}', " junk"], "tool_calls"),
        (['{"a": 1,}'], "tool_calls"),
        (["not json"], "length"),
    ],
)
def test_arguments_that_are_no_json_object_are_a_protocol_error(
    fragments: list[str], finish_reason: str
) -> None:
    chunks = [call(0, fragments[0], "call_a", "weather"), *(call(0, part) for part in fragments[1:])]
    with pytest.raises(StreamProtocolError, match="tool call 0 sent arguments that are not a JSON object"):
        translate([*chunks, chunk({}, finish_reason)])


def test_a_call_holding_an_array_fails_as_soon_as_the_next_call_closes_it() -> None:
    stream = ChatToMessagesStream()
    stream.feed(call(0, "[1, 2]", "call_a", "one"))
    with pytest.raises(StreamProtocolError, match="tool call 0"):
        stream.feed(call(1, "{}", "call_b", "two"))


def test_calls_without_ids_are_numbered_by_call_as_in_a_whole_completion() -> None:
    chunks = [
        chunk({"role": "assistant", "content": "Checking."}),
        call(0, "{}", name="one"),
        call(1, '{"x": 1}', name="two"),
        call(2, "{}", "a.b", "three"),
        call(3, "{}", "a:b", "four"),
        chunk({}, "tool_calls"),
    ]
    message = validate_anthropic_events(translate(chunks))
    ids = [block["id"] for block in message["content"][1:]]
    assert ids[:2] == ["toolu_0", "toolu_1"]  # not the block indices 1 and 2
    assert len(set(ids)) == 4
    whole_calls: list[dict[str, Any]] = [
        {"function": {"name": "one", "arguments": "{}"}},
        {"function": {"name": "two", "arguments": '{"x": 1}'}},
        {"id": "a.b", "function": {"name": "three", "arguments": "{}"}},
        {"id": "a:b", "function": {"name": "four", "arguments": "{}"}},
    ]
    assert message["content"] == chat_completion_to_message(completion(whole_calls, "tool_calls"))["content"]


def test_two_calls_with_one_id_are_a_protocol_error() -> None:
    stream = ChatToMessagesStream()
    stream.feed(call(0, "{}", name="one"))
    with pytest.raises(StreamProtocolError, match="repeats the id 'toolu_0'"):
        stream.feed(call(1, "{}", "toolu_0", "two"))


JSON_TEXT = st.text(alphabet='ab{}[]":,\\ \n\té', max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    value=st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=5),
    spaced=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=12),
)
def test_a_call_closes_exactly_when_its_last_fragment_arrives(
    value: dict[str, Any], spaced: bool, cuts: list[int]
) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=None if spaced else (",", ":"))
    points = sorted({cut for cut in cuts if cut < len(text)})
    fragments = [text[start:end] for start, end in zip([0, *points], [*points, len(text)], strict=True)]
    stream = ChatToMessagesStream()
    events = stream.feed(call(0, fragments[0], "call_a", "one"))
    events += stream.feed(call(1, '{"waiting": true}', "call_b", "two"))  # makes call 0 close once whole
    for position, fragment in enumerate(fragments[1:], start=2):
        produced = stream.feed(call(0, fragment))
        stops = [event for event in produced if event["type"] == "content_block_stop"]
        assert bool(stops) == (position == len(fragments)), "closed before its arguments were whole"
        events += produced
    if len(fragments) == 1:
        assert [event["type"] for event in events].count("content_block_stop") == 1
    events += stream.feed(chunk({}, "tool_calls")) + stream.finish()
    message = validate_anthropic_events(events)
    assert [block["input"] for block in message["content"]] == [value, {"waiting": True}]


def scanned_characters(fragments: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(characters the argument tracker scanned, characters of arguments) for one call's many
    fragments while a second call waits on it."""
    scanned = 0
    original = _messages_stream._Arguments._scan

    def counting(self: Any, text: str, position: int) -> None:
        nonlocal scanned
        scanned += len(text) - position
        original(self, text, position)

    monkeypatch.setattr(_messages_stream._Arguments, "_scan", counting)
    second = call(1, '{"b": 1}', "call_b", "two")
    pieces = ['{"text": "', *(['abcdefghijklmn\\"'] * fragments), '"}']
    chunks = [call(0, pieces[0], "call_a", "one"), second, *(call(0, piece) for piece in pieces[1:])]
    events = translate([*chunks, chunk({}, "tool_calls")])
    assert validate_anthropic_events(events)["content"][1]["input"] == {"b": 1}
    return scanned, sum(len(piece) for piece in pieces)


def test_a_waiting_call_does_not_make_the_open_one_quadratic(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each fragment is scanned once: re-reading the whole argument text on every fragment would
    # scan about fragments² / 2 times more.
    scanned, total = scanned_characters(2_000, monkeypatch)
    assert scanned <= 2 * total
