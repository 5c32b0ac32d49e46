"""Each kind of stream event and delta parses into its own class, with its fields readable."""

from __future__ import annotations

from typing import Any

import pytest

from claudegate.types import (
    CharLocationCitation,
    CitationsDelta,
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ErrorEvent,
    ErrorResponse,
    InputJSONDelta,
    Message,
    MessageDeltaEvent,
    MessageStartEvent,
    MessageStopEvent,
    PingEvent,
    RedactedThinkingBlock,
    ServerToolResultBlock,
    SignatureDelta,
    TextBlock,
    TextDelta,
    ThinkingDelta,
    ToolUseBlock,
    UnknownContentBlock,
    UnknownDelta,
    UnknownStreamEvent,
    WebSearchResult,
    WebSearchToolResultBlock,
    WebSearchToolResultError,
    WireModel,
    parse_content_block,
    parse_stream_event,
)

MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 1},
}


def delta_event(delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": 2, "delta": delta}


@pytest.mark.parametrize(
    ("payload", "event_class"),
    [
        ({"type": "message_start", "message": MESSAGE}, MessageStartEvent),
        (
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ContentBlockStartEvent,
        ),
        (delta_event({"type": "text_delta", "text": "Hi"}), ContentBlockDeltaEvent),
        ({"type": "content_block_stop", "index": 0}, ContentBlockStopEvent),
        (
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 3},
            },
            MessageDeltaEvent,
        ),
        ({"type": "message_stop"}, MessageStopEvent),
        ({"type": "ping"}, PingEvent),
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, ErrorResponse),
        ({"type": "content_block_pause", "index": 4, "reason": "later"}, UnknownStreamEvent),
    ],
)
def test_each_event_kind_parses_to_its_class(payload: dict[str, Any], event_class: type[WireModel]) -> None:
    event = parse_stream_event(payload)
    assert type(event) is event_class
    assert event.to_dict() == payload


@pytest.mark.parametrize(
    ("delta", "delta_class"),
    [
        ({"type": "text_delta", "text": "Hello"}, TextDelta),
        ({"type": "input_json_delta", "partial_json": ""}, InputJSONDelta),
        ({"type": "thinking_delta", "thinking": "Let me see"}, ThinkingDelta),
        ({"type": "signature_delta", "signature": "EqQBCkYIARgCIkD"}, SignatureDelta),
        (
            {
                "type": "citations_delta",
                "citation": {
                    "type": "char_location",
                    "cited_text": "The sky is blue.",
                    "document_index": 0,
                    "document_title": "Facts",
                    "start_char_index": 0,
                    "end_char_index": 16,
                },
            },
            CitationsDelta,
        ),
        ({"type": "compaction_delta", "content": "summary", "encrypted_content": "x"}, UnknownDelta),
    ],
)
def test_each_delta_kind_parses_to_its_class(delta: dict[str, Any], delta_class: type[WireModel]) -> None:
    event = parse_stream_event(delta_event(delta))
    assert isinstance(event, ContentBlockDeltaEvent)
    assert event.index == 2
    assert type(event.delta) is delta_class
    assert event.to_dict() == delta_event(delta)


def test_citation_inside_a_delta_is_typed() -> None:
    event = parse_stream_event(
        delta_event(
            {
                "type": "citations_delta",
                "citation": {
                    "type": "page_location",
                    "cited_text": "p",
                    "document_index": 1,
                    "document_title": None,
                    "start_page_number": 3,
                    "end_page_number": 4,
                },
            }
        )
    )
    assert isinstance(event, ContentBlockDeltaEvent) and isinstance(event.delta, CitationsDelta)
    assert event.delta.citation.type == "page_location"
    assert not isinstance(event.delta.citation, CharLocationCitation)


def test_message_start_carries_a_typed_message() -> None:
    event = parse_stream_event({"type": "message_start", "message": MESSAGE})
    assert isinstance(event, MessageStartEvent)
    assert isinstance(event.message, Message)
    assert event.message.usage.input_tokens == 12
    assert event.message.stop_reason is None


@pytest.mark.parametrize(
    ("block", "block_class"),
    [
        ({"type": "text", "text": ""}, TextBlock),
        ({"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}, ToolUseBlock),
        ({"type": "redacted_thinking", "data": "EmwKAhgB"}, RedactedThinkingBlock),
        (
            {
                "type": "web_fetch_tool_result",
                "tool_use_id": "srvtoolu_1",
                "content": {"type": "web_fetch_result"},
            },
            ServerToolResultBlock,
        ),
        (
            {"type": "code_execution_tool_result", "tool_use_id": "srvtoolu_2", "content": []},
            ServerToolResultBlock,
        ),
        ({"type": "container_upload", "file_id": "file_1"}, UnknownContentBlock),
        # A *_tool_result without the id that pairs it with a call is not assumed to be one.
        ({"type": "odd_tool_result", "content": 1}, UnknownContentBlock),
    ],
)
def test_content_block_start_types_its_block(block: dict[str, Any], block_class: type[WireModel]) -> None:
    payload = {"type": "content_block_start", "index": 1, "content_block": block}
    event = parse_stream_event(payload)
    assert isinstance(event, ContentBlockStartEvent)
    assert type(event.content_block) is block_class
    assert event.to_dict() == payload


def test_web_search_errors_are_typed_and_unknown_entries_kept() -> None:
    failed = parse_content_block(
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_1",
            "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"},
        }
    )
    assert isinstance(failed, WebSearchToolResultBlock)
    assert isinstance(failed.content, WebSearchToolResultError)
    assert failed.content.error_code == "max_uses_exceeded"
    mixed = {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_2",
        "content": [
            {
                "type": "web_search_result",
                "title": "T",
                "url": "https://example.com",
                "encrypted_content": "E",
            },
            {"type": "web_search_summary", "text": "S"},
        ],
    }
    block = parse_content_block(mixed)
    assert isinstance(block, WebSearchToolResultBlock) and isinstance(block.content, list)
    assert [type(entry) for entry in block.content] == [WebSearchResult, UnknownContentBlock]
    assert block.to_dict() == mixed


def test_error_event_is_the_error_envelope() -> None:
    payload = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }
    event = parse_stream_event(payload)
    assert ErrorEvent is ErrorResponse
    assert isinstance(event, ErrorResponse)
    assert event.error.type == "overloaded_error"
    assert event.error.message == "Overloaded"
    assert event.request_id == "req_011CSHoEeqs5C35K2UUqR7Fy"
    assert event.to_dict() == payload


def test_unknown_event_keeps_everything() -> None:
    payload = {"type": "message_annotation", "index": 3, "data": {"nested": [1, 2.5, None, "x"]}}
    event = parse_stream_event(payload)
    assert isinstance(event, UnknownStreamEvent)
    assert event.type == "message_annotation"
    assert event.model_extra == {"index": 3, "data": {"nested": [1, 2.5, None, "x"]}}
    assert event.to_dict() == payload
