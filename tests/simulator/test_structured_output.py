"""Structured outputs: ``output_config.format`` makes the text answer JSON that satisfies the schema."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from claudegate.errors import BadRequestError
from claudegate.simulator import Simulator
from claudegate.sse import validate_anthropic_events
from tests.simulator._schema_check import violations

MODEL = "claude-sonnet-4-6"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2},
        "plan": {"type": "string", "enum": ["free", "pro", "team"]},
        "seats": {"type": "integer", "minimum": 1, "maximum": 50},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        "contact": {
            "type": "object",
            "properties": {"email": {"type": "string", "format": "email"}},
            "required": ["email"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "plan", "seats", "tags", "contact"],
    "additionalProperties": False,
}
FORMAT = {"format": {"type": "json_schema", "schema": SCHEMA}}
LOOKUP = {
    "name": "lookup_account",
    "description": "Find an account.",
    "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
}


def ask(text: str, **fields: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": text}],
        "output_config": FORMAT,
    }
    request.update(fields)
    return request


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


@pytest.mark.parametrize("words", ["Extract the account from: Ada Lovelace, pro plan", "another one", "x"])
def test_the_answer_is_one_text_block_of_json_matching_the_schema(sim: Simulator, words: str) -> None:
    request = ask(words)
    message = sim.create(request)
    assert [block["type"] for block in message["content"]] == ["text"]
    value = json.loads(message["content"][0]["text"])
    assert violations(value, SCHEMA) == []
    assert message["stop_reason"] == "end_turn"
    assert validate_anthropic_events(sim.events(request)) == message


def test_thinking_comes_before_the_json(sim: Simulator) -> None:
    message = sim.create(ask("think, then answer", thinking={"type": "adaptive"}))
    assert [block["type"] for block in message["content"]] == ["thinking", "text"]
    assert violations(json.loads(message["content"][1]["text"]), SCHEMA) == []


def test_tools_are_called_first_and_their_results_answered_in_json(sim: Simulator) -> None:
    first = sim.create(ask("use lookup_account", tools=[LOOKUP]))
    assert [block["type"] for block in first["content"]] == ["text", "tool_use"]
    call = first["content"][1]
    follow_up = ask("use lookup_account", tools=[LOOKUP])
    follow_up["messages"] += [
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "found"}]},
    ]
    answer = sim.create(follow_up)
    assert [block["type"] for block in answer["content"]] == ["text"]
    assert violations(json.loads(answer["content"][0]["text"]), SCHEMA) == []


def test_effort_alone_leaves_the_plain_reply(sim: Simulator) -> None:
    message = sim.create(ask("plain words", output_config={"effort": "high"}))
    assert "You wrote: plain words." in message["content"][0]["text"]


@pytest.mark.parametrize(
    ("output_config", "message"),
    [
        ("high", "output_config: Input should be a valid dictionary"),
        ({"format": {"type": "json_object"}}, "output_config.format: Input should be an object with type"),
        ({"format": {"type": "json_schema"}}, "output_config.format.schema: Field required"),
        (
            {"format": {"type": "json_schema", "schema": {"type": "string", "pattern": "(unclosed"}}},
            "output_config.format.schema.pattern: ",
        ),
    ],
)
def test_a_malformed_format_is_a_400_naming_the_field(
    sim: Simulator, output_config: Any, message: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        sim.create(ask("hi", output_config=output_config))
    assert caught.value.message.startswith(message)


async def test_the_official_sdk_gets_the_json_over_the_socket(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model=MODEL,
        max_tokens=2048,
        messages=[{"role": "user", "content": "Extract the account"}],
        output_config={"format": {"type": "json_schema", "schema": SCHEMA}},
    )
    assert len(message.content) == 1 and message.content[0].type == "text"
    assert violations(json.loads(message.content[0].text), SCHEMA) == []
    async with client.messages.stream(
        model=MODEL,
        max_tokens=2048,
        messages=[{"role": "user", "content": "Extract the account"}],
        output_config={"format": {"type": "json_schema", "schema": SCHEMA}},
    ) as stream:
        streamed = await stream.get_final_message()
    assert streamed.content[0].type == "text" and streamed.content[0].text == message.content[0].text
