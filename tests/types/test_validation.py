"""Invalid known objects fail loudly, naming the field; new enum values and unknown kinds never fail."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from claudegate.types import (
    CountTokensParams,
    ImageBlock,
    Message,
    MessageCreateParams,
    MessageDeltaBody,
    MessageDeltaEvent,
    MessageParam,
    ServerTool,
    Tool,
    ToolChoiceNone,
    UnknownSource,
    UnknownThinkingConfig,
    UnknownToolChoice,
    parse_content_block,
    parse_message,
    parse_stream_event,
)


def error_locations(error: ValidationError) -> list[tuple[str | int, ...]]:
    return [tuple(item["loc"]) for item in error.errors()]


def test_text_block_without_text_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_content_block({"type": "text"})
    [item] = caught.value.errors()
    assert item["type"] == "missing"
    assert item["loc"][-1] == "text"


def test_tool_use_with_a_non_object_input_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_content_block({"type": "tool_use", "id": "toolu_1", "name": "f", "input": "{}"})
    assert [loc[-1] for loc in error_locations(caught.value)] == ["input"]


def test_nested_errors_carry_the_path() -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "ok"}, {"type": "image"}]}],
    }
    with pytest.raises(ValidationError) as caught:
        MessageCreateParams.model_validate(body)
    # One error, at the block's own path: not one per alternative of ``str | list``.
    assert error_locations(caught.value) == [("messages", 0, "content", "blocks", 1, "image", "source")]


def test_content_of_the_wrong_json_type_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        MessageParam.model_validate({"role": "user", "content": 5})
    [item] = caught.value.errors()
    assert item["loc"] == ("content",)
    assert item["msg"] == "Input should be a string or a list of blocks"


def test_request_without_max_tokens_fails() -> None:
    with pytest.raises(ValidationError) as caught:
        MessageCreateParams.model_validate({"model": "m", "messages": []})
    assert error_locations(caught.value) == [("max_tokens",)]


def test_message_delta_usage_needs_output_tokens() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_stream_event({"type": "message_delta", "delta": {}, "usage": {}})
    assert caught.value.errors()[0]["loc"][-1] == "output_tokens"


def test_an_object_without_type_is_rejected_clearly() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_content_block({"text": "hi"})
    assert caught.value.errors()[0]["loc"][-1] == "type"


def test_a_non_object_block_is_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_content_block("text")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "stop_reason",
    [
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
        "a_stop_reason_from_the_future",
    ],
)
def test_every_stop_reason_parses(stop_reason: str) -> None:
    payload = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": 1},
    }
    event = parse_stream_event(payload)
    assert isinstance(event, MessageDeltaEvent)
    assert event.delta.stop_reason == stop_reason
    assert event.to_dict() == payload


def test_new_error_types_and_statuses_parse() -> None:
    payload = {"type": "error", "error": {"type": "quantum_error", "message": "?", "retry_hint": 3}}
    assert parse_stream_event(payload).to_dict() == payload


def test_unknown_kinds_inside_requests_are_kept() -> None:
    image = ImageBlock.model_validate({"type": "image", "source": {"type": "file", "file_id": "file_1"}})
    assert isinstance(image.source, UnknownSource)
    assert image.to_dict() == {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
    body: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "system", "content": "mid-conversation system turn"}],
        "thinking": {"type": "deliberate", "depth": 3},
        "tool_choice": {"type": "some", "names": ["a"]},
        "tools": [{"type": "bash_20250124", "name": "bash"}, {"name": "f", "input_schema": {}}],
    }
    params = CountTokensParams.model_validate(body)
    assert isinstance(params.thinking, UnknownThinkingConfig)
    assert isinstance(params.tool_choice, UnknownToolChoice)
    assert params.tools is not None
    assert [type(tool) for tool in params.tools] == [ServerTool, Tool]
    assert params.to_dict() == body


def test_parsing_adds_nothing_that_was_not_sent() -> None:
    # Hand construction fills wire defaults; parsing must not, or a relayed payload would grow.
    assert MessageDeltaBody.model_validate({}).to_dict() == {}
    assert ToolChoiceNone.model_validate({"type": "none"}).to_dict() == {"type": "none"}
    sparse = {"id": "msg_1", "model": "m", "content": [], "usage": {"input_tokens": 1, "output_tokens": 1}}
    message = parse_message(sparse)
    assert isinstance(message, Message)
    assert (message.type, message.role, message.stop_reason) == ("message", "assistant", None)
    assert message.to_dict() == sparse


def test_numbers_keep_their_json_type() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [], "temperature": 0.5, "top_p": 1, "top_k": 40}
    assert orjson.loads(MessageCreateParams.model_validate(body).to_json()) == body
    assert b'"top_p":1,' in MessageCreateParams.model_validate(body).to_json()


def test_message_param_rejects_a_missing_content() -> None:
    with pytest.raises(ValidationError) as caught:
        MessageParam.model_validate({"role": "user"})
    assert error_locations(caught.value) == [("content",)]
