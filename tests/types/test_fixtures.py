"""Every event and content block recorded from the live API survives a parse/serialise round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter

from claudegate.types import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    Delta,
    ErrorResponse,
    Message,
    MessageDeltaEvent,
    MessageParam,
    MessageStartEvent,
    MessageStopEvent,
    PingEvent,
    ServerToolUseBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    UnknownContentBlock,
    UnknownDelta,
    WebSearchResult,
    WebSearchToolResultBlock,
    WireModel,
    parse_content_block,
    parse_message,
    parse_stream_event,
)

ANTHROPIC = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic"
FIXTURE_NAMES = sorted(path.name for path in ANTHROPIC.iterdir() if path.suffix in {".txt", ".sse"})

EVENT_CLASSES: dict[str, type[WireModel]] = {
    "message_start": MessageStartEvent,
    "content_block_start": ContentBlockStartEvent,
    "content_block_delta": ContentBlockDeltaEvent,
    "content_block_stop": ContentBlockStopEvent,
    "message_delta": MessageDeltaEvent,
    "message_stop": MessageStopEvent,
    "ping": PingEvent,
    "error": ErrorResponse,
}

BLOCK_CLASSES: dict[str, type[WireModel]] = {
    "text": TextBlock,
    "thinking": ThinkingBlock,
    "tool_use": ToolUseBlock,
    "server_tool_use": ServerToolUseBlock,
    "web_search_tool_result": WebSearchToolResultBlock,
}

DELTAS: TypeAdapter[Delta] = TypeAdapter(Delta)


def sse_payloads(path: Path) -> list[dict[str, Any]]:
    """The decoded ``data:`` payload of every frame, checked against its ``event:`` name."""
    payloads: list[dict[str, Any]] = []
    event_name = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("event:"):
            event_name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            payload = orjson.loads(line.removeprefix("data:"))
            assert payload["type"] == event_name
            payloads.append(payload)
    return payloads


@pytest.fixture(params=FIXTURE_NAMES)
def payloads(request: pytest.FixtureRequest, fixtures_dir: Path) -> list[dict[str, Any]]:
    found = sse_payloads(fixtures_dir / "anthropic" / request.param)
    assert found, f"{request.param} holds no SSE frames"
    return found


def test_fixtures_are_present() -> None:
    assert len(FIXTURE_NAMES) >= 10


def test_every_event_round_trips_unchanged(payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        event = parse_stream_event(payload)
        assert type(event) is EVENT_CLASSES[payload["type"]]
        assert event.to_dict() == payload
        assert orjson.loads(event.to_json()) == payload


def test_every_content_block_round_trips_unchanged(payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        if payload["type"] != "content_block_start":
            continue
        raw = payload["content_block"]
        block = parse_content_block(raw)
        assert type(block) is BLOCK_CLASSES.get(raw["type"], UnknownContentBlock)
        assert block.to_dict() == raw
        # The same block sent back in a request (an assistant turn) is kept just as well.
        turn = {"role": "assistant", "content": [raw]}
        assert MessageParam.model_validate(turn).to_dict() == turn


def test_every_delta_round_trips_unchanged(payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        if payload["type"] == "content_block_delta":
            assert DELTAS.validate_python(payload["delta"]).to_dict() == payload["delta"]


def test_a_message_holding_every_streamed_block_round_trips(payloads: list[dict[str, Any]]) -> None:
    start = payloads[0]
    assert start["type"] == "message_start"
    body = dict(start["message"])
    body["content"] = [p["content_block"] for p in payloads if p["type"] == "content_block_start"]
    message = parse_message(body)
    assert isinstance(message, Message)
    assert message.to_dict() == body


def test_unknown_blocks_and_deltas_keep_their_fields(fixtures_dir: Path) -> None:
    events = [
        parse_stream_event(p) for p in sse_payloads(fixtures_dir / "anthropic" / "compaction_response.txt")
    ]
    start = events[1]
    assert isinstance(start, ContentBlockStartEvent)
    assert isinstance(start.content_block, UnknownContentBlock)
    assert start.content_block.type == "compaction"
    assert start.content_block.model_extra == {"content": None, "encrypted_content": None}
    delta = events[3]
    assert isinstance(delta, ContentBlockDeltaEvent)
    assert isinstance(delta.delta, UnknownDelta)
    assert delta.delta.type == "compaction_delta"
    assert delta.delta.to_dict()["encrypted_content"].startswith("EpwBCioIDxgCEAEYASJA")


def test_newer_fields_are_kept_and_typed_ones_read_normally(fixtures_dir: Path) -> None:
    events = [
        parse_stream_event(p) for p in sse_payloads(fixtures_dir / "anthropic" / "stream-a-refusal.sse")
    ]
    start = events[0]
    assert isinstance(start, MessageStartEvent)
    usage = start.message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.service_tier) == (28, 0, "standard")
    assert usage.cache_creation is not None and usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert usage.model_extra == {"inference_geo": "global"}
    assert start.message.model_extra == {"stop_details": None}
    final = events[-2]
    assert isinstance(final, MessageDeltaEvent)
    assert final.delta.stop_reason == "refusal"
    assert final.usage.output_tokens == 106
    assert final.usage.to_dict()["output_tokens_details"] == {"thinking_tokens": 67}


def test_server_tool_blocks_are_typed(fixtures_dir: Path) -> None:
    payloads = sse_payloads(fixtures_dir / "anthropic" / "stream-a-toolrefusal.sse")
    blocks = [parse_content_block(p["content_block"]) for p in payloads if p["type"] == "content_block_start"]
    call, result = blocks[0], blocks[1]
    assert isinstance(call, ServerToolUseBlock) and call.name == "web_search"
    assert isinstance(result, WebSearchToolResultBlock) and result.tool_use_id == call.id
    assert isinstance(result.content, list) and result.content
    first = result.content[0]
    assert isinstance(first, WebSearchResult)
    assert first.url == "https://www.example.com/eclipse-viewing-safety"
    assert first.page_age == "April 30, 2026"
