from __future__ import annotations

import copy

import pytest

from claudegate.errors import APIStatusError, OverloadedError, StreamProtocolError
from claudegate.sse import MessageAccumulator
from tests.sse._events import END, Event, block, delta, message_delta, start, stop


def run(events: list[Event]) -> MessageAccumulator:
    accumulator = MessageAccumulator()
    for event in events:
        accumulator.feed(event)
    return accumulator


def test_text_is_appended_and_readable_mid_stream() -> None:
    accumulator = run([start(), block(0, type="text", text=""), delta(0, type="text_delta", text="Hel")])
    assert accumulator.message["content"] == [{"type": "text", "text": "Hel"}]
    done_mid_stream = accumulator.done
    assert not done_mid_stream
    for event in [delta(0, type="text_delta", text="lo"), stop(0), *END]:
        accumulator.feed(event)
    assert accumulator.done
    assert accumulator.message["content"] == [{"type": "text", "text": "Hello"}]


def test_tool_input_is_partial_while_open_and_parsed_at_stop() -> None:
    accumulator = run(
        [
            start(),
            block(0, type="tool_use", id="t", name="f", input={}),
            delta(0, type="input_json_delta", partial_json=""),
            delta(0, type="input_json_delta", partial_json='{"city": "Par'),
        ]
    )
    assert accumulator.message["content"][0]["input"] == {}
    accumulator.feed(delta(0, type="input_json_delta", partial_json='is", "days": [1, 2'))
    assert accumulator.message["content"][0]["input"] == {"city": "Paris", "days": [1, 2]}
    accumulator.feed(delta(0, type="input_json_delta", partial_json="]}"))
    accumulator.feed(stop(0))
    assert accumulator.message["content"][0]["input"] == {"city": "Paris", "days": [1, 2]}


@pytest.mark.parametrize("fragments", [[], [""], ["", ""]])
def test_tool_with_no_json_keeps_an_empty_input(fragments: list[str]) -> None:
    events = [start(), block(0, type="tool_use", id="t", name="f", input={})]
    events += [delta(0, type="input_json_delta", partial_json=text) for text in fragments]
    accumulator = run([*events, stop(0), *END])
    assert accumulator.message["content"][0]["input"] == {}


def test_tool_input_wider_than_64_bits_is_kept_exactly() -> None:
    events = [
        start(),
        block(0, type="server_tool_use", id="s", name="f", input={}),
        delta(0, type="input_json_delta", partial_json='{"n": 123456789012345678901234567890}'),
        stop(0),
    ]
    assert run(events).message["content"][0]["input"] == {"n": 123456789012345678901234567890}


@pytest.mark.parametrize("text", ['{"a": 1', '{"a": }', "nonsense", " "])
def test_a_stopped_tool_block_with_unfinished_or_invalid_json_is_refused(text: str) -> None:
    events = [
        start(),
        block(0, type="tool_use", id="t", name="f", input={}),
        delta(0, type="input_json_delta", partial_json=text),
    ]
    accumulator = run(events)
    with pytest.raises(StreamProtocolError, match="tool input of content block 0 is not valid JSON"):
        accumulator.feed(stop(0))


def test_a_cut_tool_block_with_invalid_json_is_refused_at_message_delta() -> None:
    accumulator = run(
        [
            start(),
            block(0, type="tool_use", id="t", name="f", input={}),
            delta(0, type="input_json_delta", partial_json='{"a": }'),
        ]
    )
    with pytest.raises(StreamProtocolError, match="not valid JSON"):
        accumulator.feed(message_delta("max_tokens"))


def test_thinking_and_signature() -> None:
    events = [
        start(),
        block(0, type="thinking", thinking="", signature=""),
        delta(0, type="thinking_delta", thinking="Let me "),
        delta(0, type="thinking_delta", thinking="think."),
        delta(0, type="signature_delta", signature="sig=="),
        stop(0),
        *END,
    ]
    assert run(events).message["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig=="}
    ]


def test_citations_are_appended_to_the_text_block() -> None:
    first = {"type": "char_location", "cited_text": "a", "document_index": 0}
    second = {"type": "char_location", "cited_text": "b", "document_index": 1}
    events = [
        start(),
        block(0, type="text", text="", citations=None),
        delta(0, type="citations_delta", citation=first),
        delta(0, type="text_delta", text="x"),
        delta(0, type="citations_delta", citation=second),
        stop(0),
        *END,
    ]
    assert run(events).message["content"] == [{"type": "text", "text": "x", "citations": [first, second]}]


def test_unknown_blocks_are_kept_and_unknown_deltas_merged_into_them() -> None:
    events = [
        start(),
        block(0, type="hologram", frames=[1], label="x"),
        delta(0, type="hologram_delta", label="y", extra=True),
        stop(0),
        block(1, type="text", text="a"),
        delta(1, type="glow_delta", glow=3),
        delta(1, type="text_delta", text="b"),
        stop(1),
        *END,
    ]
    assert run(events).message["content"] == [
        {"type": "hologram", "frames": [1], "label": "y", "extra": True},
        {"type": "text", "text": "ab", "glow": 3},
    ]


def test_an_unknown_delta_on_an_open_tool_block_keeps_the_json_received() -> None:
    events = [
        start(),
        block(0, type="tool_use", id="t", name="f", input={}),
        delta(0, type="input_json_delta", partial_json='{"a"'),
        delta(0, type="note_delta", note="n"),
        delta(0, type="input_json_delta", partial_json=": 1}"),
        stop(0),
        *END,
    ]
    assert run(events).message["content"][0] == {
        "type": "tool_use",
        "id": "t",
        "name": "f",
        "input": {"a": 1},
        "note": "n",
    }


def test_message_delta_sets_stop_fields_extra_fields_and_merges_cumulative_usage() -> None:
    usage = {"input_tokens": 5, "cache_read_input_tokens": 3, "output_tokens": 1, "service_tier": "standard"}
    events = [
        start(usage=usage),
        {"type": "ping"},
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": "pause_turn",
                "stop_sequence": None,
                "container": {"id": "c1"},
                "stop_details": None,
            },
            "usage": {
                "output_tokens": 40,
                "input_tokens": 7,
                "cache_read_input_tokens": None,
                "server_tool_use": {"web_search_requests": 1},
            },
            "context_management": {"applied_edits": []},
        },
        {"type": "message_stop"},
    ]
    message = run(events).message
    assert message["stop_reason"] == "pause_turn"
    assert message["stop_details"] is None
    assert message["container"] == {"id": "c1"}
    assert message["context_management"] == {"applied_edits": []}
    assert message["usage"] == {
        "input_tokens": 7,
        "cache_read_input_tokens": 3,
        "output_tokens": 40,
        "service_tier": "standard",
        "server_tool_use": {"web_search_requests": 1},
    }


def test_ping_and_unknown_events_are_ignored_anywhere() -> None:
    events: list[Event] = [
        {"type": "ping"},
        {"type": "future_event", "x": 1},
        start(),
        {"type": "ping"},
        block(0, type="text", text=""),
        {"type": "future_event"},
        delta(0, type="text_delta", text="a"),
        stop(0),
        {"type": "ping"},
        message_delta(),
        {"type": "ping"},
        {"type": "message_stop"},
    ]
    assert run(events).message["content"] == [{"type": "text", "text": "a"}]


def test_the_events_fed_are_not_modified() -> None:
    events = [
        start(),
        block(0, type="text", text="", citations=[]),
        delta(0, type="citations_delta", citation={"n": 1}),
        delta(0, type="text_delta", text="a"),
        stop(0),
        block(1, type="tool_use", id="t", name="f", input={}),
        delta(1, type="input_json_delta", partial_json='{"k": 1}'),
        stop(1),
        *END,
    ]
    pristine = copy.deepcopy(events)
    run(events)
    assert events == pristine


def test_an_error_event_raises_the_matching_api_error_and_ends_the_stream() -> None:
    accumulator = run([start(), block(0, type="text", text="")])
    envelope = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_9",
    }
    with pytest.raises(OverloadedError) as caught:
        accumulator.feed(envelope)
    assert caught.value.status_code == 529
    assert caught.value.request_id == "req_9"
    assert caught.value.message == "Overloaded"
    with pytest.raises(StreamProtocolError, match="after error"):
        accumulator.feed(delta(0, type="text_delta", text="x"))


def test_an_error_event_before_message_start_is_still_the_api_error() -> None:
    with pytest.raises(APIStatusError) as caught:
        run([{"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}])
    assert caught.value.status_code == 400


def test_message_before_message_start_is_an_error() -> None:
    with pytest.raises(StreamProtocolError, match="not sent message_start"):
        MessageAccumulator().message  # noqa: B018
