"""Tool schemas the simulator cannot invent inputs for are refused with a 400 naming the field."""

from __future__ import annotations

import random
import time
from typing import Any

import aiohttp
import pytest

from claudegate.errors import BadRequestError
from claudegate.simulator import Simulator, _strings, value_for_schema
from claudegate.simulator._schema_values import MAX_ITEMS, MAX_LENGTH
from claudegate.simulator._tool_schemas import check_tool_schema
from tests.simulator.conftest import Live

MODEL = "claude-sonnet-4-5"


def call_tool(schema: dict[str, Any]) -> dict[str, Any]:
    """A request that makes the simulated model call a tool with this input schema."""
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "use it"}],
        "tools": [
            {"name": "first", "input_schema": {"type": "object"}},
            {"name": "tool", "input_schema": schema},
        ],
        "tool_choice": {"type": "tool", "name": "tool"},
    }


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        (
            obj(code={"type": "string", "pattern": "([a-z"}),
            "tools.1.custom.input_schema.properties.code.pattern",
        ),
        (
            {"type": "object", "patternProperties": {"^x_(": {"type": "string"}}, "minProperties": 1},
            "tools.1.custom.input_schema.patternProperties.^x_(",
        ),
        (
            obj(tags={"type": "array", "items": {"$ref": "#/$defs/tag"}})
            | {"$defs": {"tag": {"pattern": "*"}}},
            "tools.1.custom.input_schema.$defs.tag.pattern",
        ),
        (
            obj(a={"anyOf": [{"type": "null"}, {"type": "string", "pattern": "a{2,1}"}]}),
            "tools.1.custom.input_schema.properties.a.anyOf.1.pattern",
        ),
    ],
)
def test_an_invalid_regular_expression_is_a_bad_request_naming_it(schema: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        Simulator().create(call_tool(schema))
    assert caught.value.message.startswith(f"{field}: ")
    assert "is not a valid regular expression" in caught.value.message


@pytest.mark.parametrize(
    ("schema", "field", "cap"),
    [
        (obj(tags={"type": "array", "minItems": 5e6}), "properties.tags.minItems", MAX_ITEMS),
        (obj(text={"type": "string", "minLength": 200_000_000}), "properties.text.minLength", MAX_LENGTH),
        ({"type": "object", "minProperties": 10**9}, "minProperties", MAX_ITEMS),
        (
            obj(tags={"type": "array", "contains": {"type": "string"}, "minContains": MAX_ITEMS + 1}),
            "properties.tags.minContains",
            MAX_ITEMS,
        ),
    ],
)
def test_a_size_beyond_the_limits_is_a_bad_request_naming_it(
    schema: dict[str, Any], field: str, cap: int
) -> None:
    started = time.monotonic()
    with pytest.raises(BadRequestError) as caught:
        Simulator().create(call_tool(schema))
    assert time.monotonic() - started < 1
    limit = f"Input should be less than or equal to {cap} (the simulator's limit)"
    assert caught.value.message == f"tools.1.custom.input_schema.{field}: {limit}"


def test_sizes_at_the_limits_are_generated() -> None:
    schema = obj(tags={"type": "array", "items": {"type": "integer"}, "minItems": MAX_ITEMS})
    request = call_tool(schema) | {"max_tokens": 64_000}
    (block,) = Simulator().create(request)["content"]
    assert len(block["input"]["tags"]) >= MAX_ITEMS


def test_data_that_looks_like_a_schema_is_not_checked() -> None:
    schema = obj(
        mode={"enum": [{"pattern": "(", "minItems": 10**9}, "plain"]},
        fixed={"const": {"minLength": 10**12}},
    )
    assert Simulator().create(call_tool(schema))["content"][0]["type"] == "tool_use"


def test_schemas_nested_deeper_than_the_call_stack_are_still_checked() -> None:
    schema: dict[str, Any] = {"type": "string", "pattern": "(("}
    for _ in range(3000):
        schema = {"type": "object", "properties": {"n": schema}}
    with pytest.raises(BadRequestError) as caught:
        check_tool_schema(schema, "tools.0.custom.input_schema")
    body: Any = caught.value.body  # the message itself is shortened for logs
    path = "tools.0.custom.input_schema" + ".properties.n" * 3000 + ".pattern"
    assert body["error"]["message"].startswith(f"{path}: '((' is not a valid regular expression")


async def test_an_invalid_pattern_over_http_is_a_400_not_a_500(server: Live) -> None:
    schema = {"type": "object", "patternProperties": {"[": {"type": "string"}}, "minProperties": 1}
    async with aiohttp.ClientSession(server.base_url) as http:
        async with http.post("/v1/messages", json=call_tool(schema)) as response:
            status, envelope = response.status, await response.json()
    assert status == 400
    assert envelope["error"]["type"] == "invalid_request_error"
    assert envelope["error"]["message"].startswith("tools.1.custom.input_schema.patternProperties.[: ")


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "minLength": 200_000_000},
        {"type": "array", "minItems": 5_000_000},
        {"type": "array", "minItems": MAX_ITEMS, "items": {"type": "array", "minItems": MAX_ITEMS}},
        {"type": "object", "minProperties": MAX_ITEMS, "additionalProperties": {"minLength": MAX_LENGTH}},
    ],
)
def test_the_generator_refuses_instances_too_large_to_build_instead_of_hanging(
    schema: dict[str, Any],
) -> None:
    started = time.monotonic()
    with pytest.raises(OverflowError):
        value_for_schema(schema)
    assert time.monotonic() - started < 5


def test_a_pattern_repeating_a_huge_number_of_times_falls_back_quickly() -> None:
    started = time.monotonic()
    value = value_for_schema({"type": "string", "pattern": "^a{100000000}$", "minLength": 3}, seed=2)
    assert isinstance(value, str) and len(value) >= 3
    assert time.monotonic() - started < 1


def test_without_the_regex_parser_patterns_fall_back_to_plain_strings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(name: str) -> Any:
        raise ImportError(name)

    assert _strings._load_parser(refuse) is None
    monkeypatch.setattr(_strings, "_PARSER", None)
    assert _strings.string_for_pattern("^[a-z]+$", random.Random(1)) is None
    value = value_for_schema({"type": "string", "pattern": "^[a-z]+$", "minLength": 5}, seed=3)
    assert isinstance(value, str) and len(value) >= 5
