"""Every event order a valid Anthropic stream cannot have is refused, with a message naming it."""

from __future__ import annotations

import pytest

from claudegate.errors import StreamProtocolError
from claudegate.sse import MessageAccumulator
from tests.sse._events import END, Event, block, delta, message_delta, start, stop

TEXT_0 = [block(0, type="text", text=""), delta(0, type="text_delta", text="a")]

IMPOSSIBLE: list[tuple[str, list[Event], str]] = [
    (
        "block before message_start",
        [block(0, type="text", text="")],
        "content_block_start event before message_start",
    ),
    ("message_delta first", [message_delta()], "message_delta event before message_start"),
    ("second message_start", [start(), start()], "second message_start"),
    ("delta never started", [start(), delta(0, type="text_delta", text="a")], "block 0, which never started"),
    ("stop never started", [start(), stop(3)], "block 3, which never started"),
    (
        "delta after stop",
        [start(), *TEXT_0, stop(0), delta(0, type="text_delta", text="b")],
        "block 0, which has already stopped",
    ),
    ("double stop", [start(), *TEXT_0, stop(0), stop(0)], "block 0, which has already stopped"),
    (
        "overlapping blocks",
        [start(), *TEXT_0, block(1, type="text", text="")],
        "index 1 while block 0 is still open",
    ),
    (
        "duplicate index",
        [start(), *TEXT_0, stop(0), block(0, type="text", text="")],
        "index 0 repeats an index already used",
    ),
    (
        "decreasing index",
        [start(), *TEXT_0, stop(0), block(1, type="text", text=""), stop(1), block(0, type="text", text="")],
        "index 0 repeats",
    ),
    ("skipped index", [start(), block(1, type="text", text="")], "index 1 skips an index"),
    (
        "delta to a different block",
        [start(), *TEXT_0, delta(1, type="text_delta", text="b")],
        "block 1, which never started",
    ),
    (
        "text into tool_use",
        [
            start(),
            block(0, type="tool_use", id="t", name="f", input={}),
            delta(0, type="text_delta", text="x"),
        ],
        "text_delta does not fit a tool_use block",
    ),
    (
        "json into text",
        [start(), *TEXT_0, delta(0, type="input_json_delta", partial_json="{}")],
        "input_json_delta does not fit a text block",
    ),
    (
        "thinking into text",
        [start(), *TEXT_0, delta(0, type="thinking_delta", thinking="x")],
        "thinking_delta does not fit a text block",
    ),
    (
        "signature into text",
        [start(), *TEXT_0, delta(0, type="signature_delta", signature="x")],
        "signature_delta does not fit",
    ),
    (
        "known delta into unknown block",
        [start(), block(0, type="hologram"), delta(0, type="text_delta", text="x")],
        "text_delta does not fit a hologram block",
    ),
    (
        "block after message_delta",
        [start(), message_delta(), block(0, type="text", text="")],
        "content block event after message_delta",
    ),
    ("event after message_stop", [start(), *END, message_delta()], "message_delta event after message_stop"),
    ("ping after message_stop", [start(), *END, {"type": "ping"}], "ping event after message_stop"),
    (
        "text_delta without text",
        [start(), block(0, type="text", text=""), delta(0, type="text_delta")],
        "text_delta without a string 'text'",
    ),
    (
        "boolean index",
        [start(), {"type": "content_block_start", "index": True, "content_block": {"type": "text"}}],
        "without a valid index",
    ),
    (
        "untyped block",
        [start(), {"type": "content_block_start", "index": 0, "content_block": {}}],
        "without a typed content_block",
    ),
    ("untyped event", [start(), {"index": 0}], "without a string 'type'"),
    ("message_start without message", [{"type": "message_start"}], "without a message object"),
    (
        "message_delta without delta",
        [start(), {"type": "message_delta", "usage": {}}],
        "message_delta without a delta object",
    ),
]


@pytest.mark.parametrize(
    ("events", "message"), [case[1:] for case in IMPOSSIBLE], ids=[c[0] for c in IMPOSSIBLE]
)
def test_impossible_orders_are_refused(events: list[Event], message: str) -> None:
    accumulator = MessageAccumulator()
    *before, last = events
    for event in before:
        accumulator.feed(event)
    with pytest.raises(StreamProtocolError, match=message):
        accumulator.feed(last)


def test_a_non_dict_event_is_refused() -> None:
    with pytest.raises(StreamProtocolError, match="must be a JSON object, got list"):
        MessageAccumulator().feed([])  # type: ignore[arg-type]
