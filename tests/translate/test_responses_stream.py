"""Anthropic stream events -> Responses stream events and response objects, checked against the
``openai`` SDK's own types and stream accumulator, and against recorded live Responses streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from claudegate.sse import MessageAccumulator
from claudegate.translate.responses import (
    MessagesToResponsesStream,
    ResponseShell,
    message_to_response,
    response_event_to_sse,
    response_shell,
)
from tests.translate._wire import ANTHROPIC_FIXTURES, FIXTURES, read_data

EVENTS: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
RECORDED = FIXTURES / "responses"


def shell(**body: Any) -> ResponseShell:
    return response_shell(
        {"model": "m", **body}, response_id="resp_abc", created_at=1_700_000_000, store=True
    )


def translate(events: list[dict[str, Any]], the_shell: ResponseShell | None = None) -> list[dict[str, Any]]:
    stream = MessagesToResponsesStream(the_shell or shell(), clock=lambda: 1_700_000_001)
    out = [event for anthropic in events for event in stream.feed(anthropic)]
    assert stream.finished
    return out


def recorded(path: Path) -> list[dict[str, Any]]:
    return read_data(path)


def accumulate(events: list[dict[str, Any]]) -> Any:
    """What the SDK's ``responses.stream`` builds (it raises on anything out of order)."""
    state: ResponseStreamState[None] = ResponseStreamState(input_tools=omit, text_format=omit)
    for event in events:
        state.handle_event(EVENTS.validate_python(event))
    return state._completed_response


def arguments_parsed(response: dict[str, Any]) -> dict[str, Any]:
    output = [
        {**item, "arguments": orjson.loads(item["arguments"])} if item["type"] == "function_call" else item
        for item in response["output"]
    ]
    return {**response, "output": output}


def whole(events: list[dict[str, Any]]) -> dict[str, Any]:
    accumulator = MessageAccumulator()
    for event in events:
        accumulator.feed(event)
    return accumulator.message


@pytest.mark.parametrize("path", ANTHROPIC_FIXTURES, ids=lambda p: p.name)
def test_every_anthropic_fixture_becomes_a_stream_the_sdk_accepts(path: Path) -> None:
    anthropic = recorded(path)
    if any(event.get("type") == "error" for event in anthropic):
        pytest.skip("an error stream: see test_an_error_event_fails_the_response")
    out = translate(anthropic, shell(reasoning={"summary": "auto"}))
    assert [event["sequence_number"] for event in out] == list(range(len(out)))
    assert out[0]["type"] == "response.created" and out[0]["response"]["output"] == []
    for event in out:
        EVENTS.validate_python(event)
    final = out[-1]["response"]
    Response.model_validate(final)
    expected = message_to_response(
        whole(anthropic), shell(reasoning={"summary": "auto"}), completed_at=1_700_000_001
    )
    # The stream's last word is the JSON answer, item ids and all; streamed arguments keep the
    # upstream's own JSON text (the JSON answer re-encodes the parsed input).
    assert arguments_parsed(final) == arguments_parsed(expected)
    if final["status"] == "completed":
        completed = accumulate(out)
        assert completed is not None and completed.id == "resp_abc"


def test_event_fields_cover_the_recorded_live_ones() -> None:
    ours: dict[str, set[str]] = {}
    text: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"model": "claude", "usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t1", "name": "f"},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "{}"},
        },
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 4}},
        {"type": "message_stop"},
    ]
    out = translate(text)
    for event in out:
        ours.setdefault(event["type"], set()).update(event)
    for name in ("stream-text.sse", "stream-function-call.sse"):
        for live in recorded(RECORDED / name):
            missing = set(live) - {"obfuscation"} - ours[live["type"]]
            assert not missing, f"{live['type']} lacks {missing}"
            if "response" in live:
                assert set(live["response"]) - {"billing"} <= set(out[-1]["response"])


@pytest.mark.parametrize(
    "name",
    ["text.json", "function-call.turn1.json", "incomplete-max-output-tokens.json", "reasoning-summary.json"],
)
def test_response_objects_have_the_recorded_fields_and_the_sdk_reads_ours(name: str) -> None:
    live = orjson.loads((RECORDED / name).read_bytes())
    message = {
        "model": "claude",
        "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}, {"type": "text", "text": "ok"}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 2},
    }
    ours = message_to_response(message, shell(reasoning={"summary": "auto"}, max_output_tokens=7))
    extras = {"billing", "moderation", "tool_usage", "frequency_penalty", "presence_penalty"}
    assert set(live) - extras <= set(ours)
    parsed = Response.model_validate(ours)
    assert parsed.status == "incomplete" and parsed.incomplete_details is not None
    assert parsed.incomplete_details.reason == "max_output_tokens"
    assert parsed.usage is not None and parsed.usage.input_tokens == 7
    assert parsed.usage.input_tokens_details.cached_tokens == 2
    assert parsed.usage.output_tokens_details.reasoning_tokens == 1
    assert [item.type for item in parsed.output] == ["reasoning", "message"]


def test_parallel_calls_are_items_in_order_with_their_arguments() -> None:
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"model": "claude", "usage": {"input_tokens": 3}}},
        *[
            event
            for index, (call_id, fragments) in enumerate(
                [("toolu_a", ['{"city"', ': "Oslo"}']), ("toolu_b", [])]
            )
            for event in (
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": call_id,
                        "name": f"tool_{index}",
                        "input": {},
                    },
                },
                *[
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": f},
                    }
                    for f in fragments
                ],
                {"type": "content_block_stop", "index": index},
            )
        ],
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    out = translate(events)
    calls = out[-1]["response"]["output"]
    assert [(c["call_id"], c["name"], c["arguments"]) for c in calls] == [
        ("toolu_a", "tool_0", '{"city": "Oslo"}'),
        ("toolu_b", "tool_1", "{}"),  # never an empty string: the SDK parses it as JSON
    ]
    deltas = [e["delta"] for e in out if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ['{"city"', ': "Oslo"}']
    assert accumulate(out).output[0].arguments == '{"city": "Oslo"}'


def test_an_error_event_fails_the_response() -> None:
    stream = MessagesToResponsesStream(shell())
    stream.feed({"type": "message_start", "message": {"model": "claude", "usage": {}}})
    out = stream.feed({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    assert [e["type"] for e in out] == ["error", "response.failed"]
    assert out[0]["error"] == {
        "type": "overloaded_error",
        "code": "overloaded_error",
        "message": "busy",
        "param": None,
    }
    assert out[1]["response"]["status"] == "failed"
    assert out[1]["response"]["error"] == {"code": "overloaded_error", "message": "busy"}
    assert stream.feed({"type": "message_stop"}) == [] and stream.fail("again") == []


def test_sse_frames_name_the_event_and_never_send_done() -> None:
    frame = response_event_to_sse({"type": "response.in_progress", "sequence_number": 1})
    assert (
        frame == b'event: response.in_progress\ndata: {"type":"response.in_progress","sequence_number":1}\n\n'
    )


def test_the_stream_keeps_the_thinking_signature_for_the_next_turn() -> None:
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"model": "claude", "usage": {"input_tokens": 3}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Let me see"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig=="},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Done"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    stream = MessagesToResponsesStream(shell())
    out = [event for anthropic in events for event in stream.feed(anthropic)]
    assert stream.message["content"] == [
        {"type": "thinking", "thinking": "Let me see", "signature": "sig=="},
        {"type": "text", "text": "Done"},
    ]
    kinds = [e["type"] for e in out]
    assert "response.reasoning_summary_text.delta" not in kinds  # no summary was asked
    [reasoning, _] = out[-1]["response"]["output"]
    assert reasoning["summary"] == [] and reasoning["encrypted_content"]
