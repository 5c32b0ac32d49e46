from __future__ import annotations

import pytest

from claudegate.errors import RateLimitError, StreamProtocolError
from claudegate.sse import (
    encode_comment,
    encode_event,
    encode_json_event,
    validate_anthropic_events,
    validate_anthropic_sse,
)
from tests.sse._events import Event, block, delta, message_delta, start, stop
from tests.sse._streams import FIXTURE_NAMES, fixture_bytes

START = start(usage={"input_tokens": 3, "output_tokens": 1})
TEXT: list[Event] = [block(0, type="text", text=""), {"type": "ping"}, delta(0, type="text_delta", text="Hi")]
STOP_0 = stop(0)


def finish(stop_reason: str = "end_turn") -> Event:
    return message_delta(stop_reason, usage={"output_tokens": 4})


MESSAGE_STOP: Event = {"type": "message_stop"}
VALID: list[Event] = [START, *TEXT, STOP_0, finish(), MESSAGE_STOP]


def sse(events: list[Event]) -> bytes:
    return b"".join(encode_json_event(event) for event in events)


def test_a_valid_stream_returns_the_final_message() -> None:
    message = validate_anthropic_events(VALID)
    assert message["content"] == [{"type": "text", "text": "Hi"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"] == {"input_tokens": 3, "output_tokens": 4}


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_recorded_stream_is_valid(name: str) -> None:
    assert validate_anthropic_sse(fixture_bytes(name))["type"] == "message"


def test_a_block_cut_by_max_tokens_may_stay_open() -> None:
    message = validate_anthropic_events([START, *TEXT, finish("max_tokens"), MESSAGE_STOP])
    assert message["content"] == [{"type": "text", "text": "Hi"}]
    assert message["stop_reason"] == "max_tokens"


BROKEN: list[tuple[str, list[Event], str]] = [
    ("empty stream", [], "ended before message_start"),
    ("only pings", [{"type": "ping"}], "ended before message_start"),
    ("no message_delta", [START, *TEXT, STOP_0], "ended before message_delta and message_stop"),
    ("no message_stop", [START, *TEXT, STOP_0, finish()], "ended before message_stop"),
    (
        "message_stop without message_delta",
        [START, *TEXT, STOP_0, MESSAGE_STOP],
        "message_stop without a message_delta",
    ),
    ("two message_delta", [START, finish(), finish(), MESSAGE_STOP], "second message_delta"),
    (
        "block open at end_turn",
        [START, *TEXT, finish(), MESSAGE_STOP],
        "while content block 0 is still open",
    ),
    (
        "block open at tool_use",
        [START, *TEXT, finish("tool_use"), MESSAGE_STOP],
        "stop_reason 'tool_use'",
    ),
    (
        "message_delta without usage",
        [START, {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}],
        "message_delta carries no usage",
    ),
    (
        "message_start without usage",
        [{"type": "message_start", "message": {"content": []}}],
        "message_start carries no usage",
    ),
    (
        "accumulator rule: overlap",
        [
            START,
            *TEXT,
            {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        ],
        "still open",
    ),
    ("accumulator rule: after stop", [*VALID, {"type": "ping"}], "after message_stop"),
]


@pytest.mark.parametrize(
    ("events", "message"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN]
)
def test_broken_streams_are_refused(events: list[Event], message: str) -> None:
    with pytest.raises(StreamProtocolError, match=message):
        validate_anthropic_events(events)


def test_an_error_event_mid_stream_raises_the_api_error() -> None:
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    with pytest.raises(RateLimitError, match="slow down"):
        validate_anthropic_sse(sse([START, *TEXT, error]))


def test_sse_with_heartbeat_comments_is_valid() -> None:
    raw = encode_comment("keepalive") + sse(VALID[:3]) + encode_comment() + sse(VALID[3:])
    assert validate_anthropic_sse(raw)["content"] == [{"type": "text", "text": "Hi"}]


def test_sse_frames_need_an_event_line() -> None:
    raw = sse(VALID[:2]) + encode_event(b'{"type":"ping"}') + sse(VALID[2:])
    with pytest.raises(StreamProtocolError, match=r"frame 2 \(ping\) has no event: line"):
        validate_anthropic_sse(raw)


def test_sse_event_line_must_equal_the_data_type() -> None:
    raw = sse(VALID[:1]) + encode_json_event(VALID[1], event="content_block_delta") + sse(VALID[2:])
    with pytest.raises(
        StreamProtocolError, match="'content_block_delta' differs from the data's type 'content_block_start'"
    ):
        validate_anthropic_sse(raw)


@pytest.mark.parametrize(
    ("data", "message"), [(b"{not json", "data is not JSON"), (b"[1]", "not a JSON object")]
)
def test_sse_data_must_be_a_json_object(data: bytes, message: str) -> None:
    with pytest.raises(StreamProtocolError, match=message):
        validate_anthropic_sse(sse(VALID[:1]) + encode_event(data, "content_block_start"))


def test_crlf_framing_is_accepted() -> None:
    raw = sse(VALID).replace(b"\n", b"\r\n")
    assert validate_anthropic_sse(raw)["stop_reason"] == "end_turn"
