"""Every recorded Anthropic stream decodes and accumulates the same way however it is chunked, and
to the message one derives by reading the recording."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claudegate.sse import MessageAccumulator, ServerSentEvent, SSEDecoder, validate_anthropic_events
from tests.sse._streams import (
    FIXTURE_NAMES,
    decode_chunks,
    fixture_bytes,
    naive_data_payloads,
    split_at,
)


def accumulate(events: list[ServerSentEvent]) -> dict[str, Any]:
    accumulator = MessageAccumulator()
    for event in events:
        accumulator.feed(event.json())
    assert accumulator.done
    return accumulator.message


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_decoded_frames_match_an_independent_reading(name: str) -> None:
    raw = fixture_bytes(name)
    events = decode_chunks([raw])
    assert [event.json() for event in events] == naive_data_payloads(raw)
    assert all(event.event == event.json()["type"] for event in events)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_two_piece_split_and_one_byte_chunks_decode_identically(name: str) -> None:
    raw = fixture_bytes(name)
    whole = decode_chunks([raw])
    for point in range(1, len(raw)):
        assert decode_chunks(split_at(raw, [point])) == whole, point
    assert decode_chunks([raw[i : i + 1] for i in range(len(raw))]) == whole


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_cr_line_endings_decode_identically(name: str, newline: bytes) -> None:
    raw = fixture_bytes(name)
    converted = raw.replace(b"\n", newline)
    assert decode_chunks([converted[i : i + 1] for i in range(len(converted))]) == decode_chunks([raw])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FIXTURE_NAMES), st.lists(st.integers(0, 5_000), max_size=60))
def test_each_event_comes_out_of_the_feed_that_completes_it(name: str, points: list[int]) -> None:
    raw = fixture_bytes(name)
    # In these recordings every blank line closes a frame; a last frame without one waits for flush.
    frame_ends = [match.end() for match in re.finditer(b"\n\n", raw)]
    decoder = SSEDecoder()
    delivered_at: list[int | None] = []
    offset = 0
    for chunk in split_at(raw, points):
        offset += len(chunk)
        delivered_at += [offset] * len(decoder.feed(chunk))
    delivered_at += [None] * len(decoder.flush())
    chunk_ends = list(itertools.accumulate(len(chunk) for chunk in split_at(raw, points)))
    expected = [next(end for end in chunk_ends if end >= frame_end) for frame_end in frame_ends]
    assert delivered_at[: len(expected)] == expected
    assert all(at is None for at in delivered_at[len(expected) :])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FIXTURE_NAMES), st.lists(st.integers(0, 5_000), max_size=60))
def test_random_chunkings_accumulate_to_the_same_message(name: str, points: list[int]) -> None:
    raw = fixture_bytes(name)
    assert accumulate(decode_chunks(split_at(raw, points))) == accumulate(decode_chunks([raw]))


def message_of(name: str) -> dict[str, Any]:
    return validate_anthropic_events(event.json() for event in decode_chunks([fixture_bytes(name)]))


def texts_of(name: str, delta_type: str, field: str) -> str:
    """Join one delta field over the recording, read without the decoder under test."""
    return "".join(
        payload["delta"][field]
        for payload in naive_data_payloads(fixture_bytes(name))
        if payload["type"] == "content_block_delta" and payload["delta"]["type"] == delta_type
    )


def test_basic_text_message() -> None:
    message = message_of("basic_response.txt")
    assert message["id"] == "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK"
    assert message["model"] == "claude-3-opus-latest"
    assert message["content"] == [{"type": "text", "text": "Hello there!"}]
    assert message["stop_reason"] == "end_turn"
    assert message["stop_sequence"] is None
    assert message["usage"] == {"input_tokens": 11, "output_tokens": 6}


def test_tool_use_input_is_parsed_from_the_json_fragments() -> None:
    message = message_of("tool_use_response.txt")
    text, tool = message["content"]
    assert text == {"type": "text", "text": "I'll check the current weather in Paris for you."}
    assert tool == {
        "type": "tool_use",
        "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn",
        "name": "get_weather",
        "caller": {"type": "direct"},
        "input": {"location": "Paris"},
    }
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 377,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 65,
        "service_tier": "standard",
    }


def test_a_tool_block_cut_by_max_tokens_keeps_its_best_partial_input() -> None:
    message = message_of("incomplete_partial_json_response.txt")
    assert message["stop_reason"] == "max_tokens"
    text, tool = message["content"]
    assert text["text"] == texts_of("incomplete_partial_json_response.txt", "text_delta", "text")
    assert text["text"].startswith("I'll create a comprehensive tax guide")
    # The last fragment opens the string "Filing taxes" and never closes it: it is dropped.
    assert tool["input"] == {
        "filename": "taxes.txt",
        "lines_of_text": [
            "# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s",
            "",
            "## INTRODUCTION",
            "",
        ],
    }
    assert message["usage"]["output_tokens"] == 124
    assert message["usage"]["input_tokens"] == 450


def test_refusal_keeps_stop_details_and_the_empty_text_block() -> None:
    message = message_of("refusal_response.txt")
    assert message["content"] == [{"type": "text", "text": ""}]
    assert message["stop_reason"] == "refusal"
    assert message["stop_details"] == {
        "type": "refusal",
        "category": "cyber",
        "explanation": "This request was refused due to policy.",
    }
    assert message["usage"] == {"input_tokens": 20, "output_tokens": 0}


def test_thinking_text_and_signature() -> None:
    name = "stream-a-refusal.sse"
    message = message_of(name)
    thinking, text = message["content"]
    assert thinking["type"] == "thinking"
    assert thinking["thinking"] == texts_of(name, "thinking_delta", "thinking")
    assert thinking["thinking"].startswith("Simple educational question")
    assert thinking["signature"] == "c3ludGhldGljLXNpZ25hdHVyZS1maXh0dXJlLWEtbm90LWEtcmVhbC1zaWduYXR1cmU="
    assert text == {"type": "text", "text": "Hi"}
    assert message["stop_details"]["fallback_credit_token"] == "tok_synthetic_fixture_a"
    usage = message["usage"]
    # Cumulative usage from message_delta replaces the start's counts and adds its new fields;
    # fields only message_start had survive.
    assert usage["output_tokens"] == 106
    assert usage["output_tokens_details"] == {"thinking_tokens": 67}
    assert usage["iterations"][0]["output_tokens"] == 106
    assert usage["inference_geo"] == "global"
    assert usage["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}


def test_server_tool_use_and_its_result_block() -> None:
    message = message_of("stream-a-toolrefusal.sse")
    tool, result, text = message["content"]
    assert tool["type"] == "server_tool_use"
    assert tool["input"] == {"query": "solar eclipse viewing safety news 2026"}
    assert result["type"] == "web_search_tool_result"
    assert result["tool_use_id"] == "srvtoolu_fixture_a_0001"
    assert [item["url"] for item in result["content"]] == [
        "https://www.example.com/eclipse-viewing-safety",
        "https://www.example.com/eclipses-2026",
    ]
    assert text["text"] == "Here's a summary of this year's solar eclipses and how"
    assert message["stop_reason"] == "refusal"


def test_long_text_is_joined_in_order() -> None:
    name = "stream-b-fallback.sse"
    message = message_of(name)
    (text,) = message["content"]
    assert text["text"] == texts_of(name, "text_delta", "text")
    assert text["text"].startswith(" there! Happy to explain.")
    assert text["text"].endswith("sparking your interest!")
    assert message["usage"]["output_tokens"] == 547


def test_compaction_delta_fills_the_compaction_block() -> None:
    message = message_of("compaction_response.txt")
    assert message["content"] == [
        {
            "type": "compaction",
            "content": "Earlier conversation summarized.",
            "encrypted_content": "EpwBCioIDxgCEAEYASJALd_opaque_compaction_payload",
        },
        {"type": "text", "text": "Hello there!"},
    ]


def test_fallback_block_is_kept_and_names_the_serving_model() -> None:
    message = message_of("fallback_response.txt")
    fallback, text = message["content"]
    assert fallback == {
        "type": "fallback",
        "from": {"model": "claude-opus-4-7"},
        "to": {"model": "claude-sonnet-4-5"},
        "trigger": {"type": "refusal", "category": None},
    }
    assert message["model"] == "claude-sonnet-4-5"
    assert text["text"] == "Hello there!"


def test_fallback_credit_usage_is_merged() -> None:
    message = message_of("fallback_credit_response.txt")
    assert message["usage"] == {
        "input_tokens": 25,
        "output_tokens": 8,
        "fallback_credit": {"status": {"type": "redeemed"}},
    }
