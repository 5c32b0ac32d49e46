"""Structured outputs both ways: ``response_format`` <-> ``output_config.format``, schema unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from claudegate.translate import chat_request_to_messages, messages_request_to_chat

STRICT: dict[str, Any] = {
    "type": "object",
    "title": "PortInfo",
    "properties": {
        "port": {"type": "string"},
        "berths": {
            "type": "array",
            "items": {"$ref": "#/$defs/Berth"},
        },
    },
    "required": ["port", "berths"],
    "additionalProperties": False,
    "$defs": {
        "Berth": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "depth": {"anyOf": [{"type": "number"}, {"type": "null"}]},
            },
            "required": ["name", "depth"],
            "additionalProperties": False,
        }
    },
}


def anthropic_request(schema: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
        "output_config": {"format": {"type": "json_schema", "schema": schema}, **fields},
    }


def test_an_output_format_becomes_a_strict_response_format_named_by_its_title() -> None:
    chat = messages_request_to_chat(anthropic_request(STRICT, effort="high"))
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "PortInfo", "schema": STRICT, "strict": True},
    }
    assert chat["response_format"]["json_schema"]["schema"] is STRICT
    assert "tools" not in chat and "tool_choice" not in chat and "output_config" not in chat


@pytest.mark.parametrize(
    "schema",
    [
        {**STRICT, "required": ["port"]},  # an optional property
        {key: value for key, value in STRICT.items() if key != "additionalProperties"},
        {**STRICT, "$defs": {"Berth": {**STRICT["$defs"]["Berth"], "additionalProperties": True}}},
        {
            "type": "object",
            "properties": {"x": {"type": "object", "properties": {}}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ],
)
def test_schemas_openai_strict_mode_would_refuse_go_without_strict(schema: dict[str, Any]) -> None:
    spec = messages_request_to_chat(anthropic_request(schema))["response_format"]["json_schema"]
    assert spec["schema"] == schema and "strict" not in spec


def test_a_title_that_is_no_valid_name_gives_a_plain_name() -> None:
    schema = {**STRICT, "title": "Port info (v2)"}
    assert messages_request_to_chat(anthropic_request(schema))["response_format"]["json_schema"]["name"] == (
        "response"
    )


def test_effort_alone_is_not_a_response_format() -> None:
    body = anthropic_request(STRICT)
    body["output_config"] = {"effort": "high"}
    assert "response_format" not in messages_request_to_chat(body)


def test_round_trip_keeps_the_schema_both_ways() -> None:
    chat = {
        "model": "m",
        "messages": [{"role": "user", "content": "Hi"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "PortInfo", "schema": STRICT, "strict": True},
        },
    }
    anthropic = chat_request_to_messages(chat)
    assert anthropic["output_config"] == {"format": {"type": "json_schema", "schema": STRICT}}
    assert messages_request_to_chat(anthropic)["response_format"] == chat["response_format"]
