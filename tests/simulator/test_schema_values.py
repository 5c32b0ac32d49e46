"""Invented tool inputs satisfy their schemas: hypothesis-built schemas, checked independently."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claudegate.simulator import value_for_schema
from tests.simulator._schema_check import violations

NAMES = st.sampled_from(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
PATTERNS = [
    r"^[a-z]+$",
    r"^[A-Z]{3}$",
    r"^\d{3}-\d{4}$",
    r"^(red|green|blue)$",
    r"^[a-f0-9]{8}$",
    r"^v\d+\.\d+\.\d+$",
    r"[xyz]",
    r"^[^\s]+$",
    r"^\w+@\w+\.com$",
]
FORMATS = ["date", "time", "date-time", "email", "hostname", "ipv4", "ipv6", "uri", "uuid", "duration"]
SCALARS = st.one_of(st.integers(-50, 50), st.text(max_size=6), st.booleans(), st.none())
WORDS = st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), max_size=6)


@st.composite
def string_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["plain", "pattern", "format"]))
    if kind == "pattern":
        return {"type": "string", "pattern": draw(st.sampled_from(PATTERNS))}
    if kind == "format":
        return {"type": "string", "format": draw(st.sampled_from(FORMATS))}
    schema: dict[str, Any] = {"type": "string"}
    low = draw(st.none() | st.integers(0, 30))
    high = draw(st.none() | st.integers(max(low or 0, 1), 40))
    if low is not None:
        schema["minLength"] = low
    if high is not None:
        schema["maxLength"] = high
    return schema


@st.composite
def integer_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    step = draw(st.none() | st.sampled_from([2, 3, 5, 7]))
    low = draw(st.none() | st.integers(-1000, 1000))
    width = draw(st.integers(2 * (step or 1) + 2, 500))
    high = draw(st.none() | st.just((low if low is not None else 0) + width))
    exclusive = draw(st.booleans())
    if low is not None:
        schema["exclusiveMinimum" if exclusive else "minimum"] = low
    if high is not None:
        schema["exclusiveMaximum" if exclusive else "maximum"] = high
    if step is not None:
        schema["multipleOf"] = step
    return schema


@st.composite
def number_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    step = draw(st.none() | st.sampled_from([0.5, 0.25, 0.1, 2.5, 1]))
    low = draw(st.none() | st.floats(-1000, 1000, allow_nan=False).map(lambda x: round(x, 3)))
    width = draw(st.floats(2 * (step or 1) + 1, 500, allow_nan=False))
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
        if draw(st.booleans()):
            schema["maximum"] = round(low + width, 3)
    if step is not None:
        schema["multipleOf"] = step
    return schema


LEAVES: st.SearchStrategy[dict[str, Any]] = st.one_of(
    string_schemas(),
    integer_schemas(),
    number_schemas(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(SCALARS, min_size=1, max_size=4).map(lambda values: {"enum": values}),
    SCALARS.map(lambda value: {"const": value}),
    st.sampled_from(["string", "integer", "boolean"]).map(lambda name: {"type": [name, "null"]}),
    st.just({"type": "string", "nullable": True, "minLength": 2}),
    st.just({}),
)


def object_schemas(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        properties = draw(st.dictionaries(NAMES, children, max_size=4))
        names = list(properties)
        required = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
        schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        extra = draw(st.sampled_from(["open", "closed", "typed", "pattern"]))
        if extra == "closed":
            schema["additionalProperties"] = False
        elif extra == "typed":
            schema["additionalProperties"] = {"type": "integer", "minimum": 0}
            schema["minProperties"] = len(names) + 1
        elif extra == "pattern":
            schema["patternProperties"] = {"^x_": {"type": "string", "maxLength": 3}}
            schema["additionalProperties"] = False
            schema["minProperties"] = len(names) + 1
        if draw(st.booleans()) and names:
            schema["maxProperties"] = max(len(required), schema.get("minProperties", 1))
        if len(names) >= 2 and draw(st.booleans()):
            schema["dependentRequired"] = {names[0]: [names[1]]}
            if "maxProperties" in schema:
                schema["maxProperties"] = max(len(names), schema.get("minProperties", 1))
        return schema

    return build()


def array_schemas(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        kind = draw(st.sampled_from(["items", "unique", "tuple", "contains"]))
        low = draw(st.integers(0, 4))
        high = low + draw(st.integers(0, 4))
        if kind == "unique":
            item = draw(st.sampled_from([{"type": "string"}, {"type": "integer"}]))
            return {"type": "array", "items": item, "uniqueItems": True, "minItems": low, "maxItems": high}
        if kind == "tuple":
            prefix = draw(st.lists(children, min_size=1, max_size=3))
            return {"type": "array", "prefixItems": prefix, "items": False, "minItems": len(prefix)}
        if kind == "contains":
            return {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 100},
                "contains": {"type": "integer", "minimum": 90},
                "maxItems": high + 1,
            }
        return {"type": "array", "items": draw(children), "minItems": low, "maxItems": high}

    return build()


def combinator_schemas(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    distinct_types = st.lists(
        st.sampled_from(["string", "integer", "boolean", "null", "array"]),
        min_size=2,
        max_size=4,
        unique=True,
    )
    tagged = st.lists(NAMES, min_size=2, max_size=3, unique=True).map(
        lambda tags: {
            "oneOf": [
                {"type": "object", "properties": {"kind": {"const": tag}}, "required": ["kind"]}
                for tag in tags
            ]
        }
    )
    return st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches}),
        distinct_types.map(lambda names: {"oneOf": [{"type": name} for name in names]}),
        tagged,
        st.tuples(children, children).map(
            lambda pair: {
                "allOf": [
                    {"type": "object", "properties": {"left": pair[0]}, "required": ["left"]},
                    {"type": "object", "properties": {"right": pair[1]}, "required": ["right"]},
                ]
            }
        ),
        st.just({"allOf": [{"type": "integer", "minimum": 10}, {"maximum": 20}, {"multipleOf": 3}]}),
    )


SCHEMAS: st.SearchStrategy[dict[str, Any]] = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        object_schemas(children), array_schemas(children), combinator_schemas(children)
    ),
    max_leaves=12,
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A tool input schema (an object at the root), sometimes reaching its parts through ``$ref``."""
    part = draw(SCHEMAS)
    if draw(st.booleans()):
        return {
            "type": "object",
            "$defs": {"part": part},
            "properties": {"value": {"$ref": "#/$defs/part"}, "again": {"$ref": "#/$defs/part"}},
            "required": ["value"],
        }
    return {"type": "object", "properties": {"value": part}, "required": ["value"]}


SLOW = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(schema=documents(), seed=st.integers(0, 2**32), words=WORDS)
def test_generated_values_satisfy_their_schema(schema: dict[str, Any], seed: int, words: list[str]) -> None:
    value = value_for_schema(schema, seed=seed, words=words)
    assert violations(value, schema) == [], value


@settings(max_examples=200, deadline=None)
@given(schema=SCHEMAS, seed=st.integers(0, 2**32))
def test_the_same_seed_gives_the_same_value(schema: dict[str, Any], seed: int) -> None:
    assert value_for_schema(schema, seed=seed) == value_for_schema(schema, seed=seed)


def _tree(children_required: bool) -> dict[str, Any]:
    children = {"type": "array", "items": {"$ref": "#/$defs/node"}, "minItems": 1 if children_required else 0}
    node = {
        "type": "object",
        "properties": {"value": {"type": "integer"}, "children": children},
        "required": ["value", "children"] if children_required else ["value"],
    }
    return {"$defs": {"node": node}, "$ref": "#/$defs/node"}


def _depth(node: dict[str, Any]) -> int:
    return 1 + max((_depth(child) for child in node.get("children", ())), default=0)


@pytest.mark.parametrize("seed", range(20))
def test_recursive_schemas_are_satisfied_with_bounded_depth(seed: int) -> None:
    schema = _tree(children_required=False)
    value = value_for_schema(schema, seed=seed)
    assert violations(value, schema) == []
    assert _depth(value) <= 4


def test_a_schema_without_finite_instances_still_ends() -> None:
    value = value_for_schema(_tree(children_required=True), seed=1)
    assert 4 <= _depth(value) <= 13


OPENAI_STYLE = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1},
        "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "when": {"type": "string", "format": "date"},
        "contact": {"type": "string", "format": "email", "nullable": True},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": 0.05},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{2,5}$"}, "maxItems": 3},
        "filter": {
            "anyOf": [
                {"type": "null"},
                {"type": "object", "properties": {"field": {"type": "string"}}, "required": ["field"]},
            ]
        },
    },
    "required": ["city", "units", "when", "contact", "days", "ratio", "tags", "filter"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("seed", range(25))
def test_a_realistic_tool_schema_is_satisfied(seed: int) -> None:
    value = value_for_schema(OPENAI_STYLE, seed=seed, words=["Paris", "weather"])
    assert violations(value, OPENAI_STYLE) == []
    assert isinstance(value["filter"], dict)


@pytest.mark.parametrize("seed", range(20))
def test_draft4_exclusive_flags_are_honoured(seed: int) -> None:
    schema = {
        "type": "integer",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 3,
        "exclusiveMaximum": True,
    }
    assert value_for_schema(schema, seed=seed) in {1, 2}
    number = {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 0.5,
        "exclusiveMaximum": True,
    }
    assert 0 < value_for_schema(number, seed=seed) < 0.5


def test_the_checker_rejects_wrong_values() -> None:
    assert violations({"days": 0}, OPENAI_STYLE) != []
    assert violations(3, {"type": "number", "multipleOf": 0.5, "exclusiveMaximum": 3}) != []
    assert violations("ab", {"type": "string", "pattern": "^[a-z]{3}$"}) != []
    assert violations([1, 1.0], {"type": "array", "uniqueItems": True}) != []
    assert violations({"kind": "a"}, {"oneOf": [{"required": ["kind"]}, {"type": "object"}]}) != []


@pytest.mark.skipif(importlib.util.find_spec("jsonschema") is None, reason="jsonschema is not installed")
@SLOW
@given(schema=documents(), seed=st.integers(0, 2**32))
def test_values_also_pass_the_reference_validator(schema: dict[str, Any], seed: int) -> None:
    jsonschema: Any = importlib.import_module("jsonschema")
    value = value_for_schema(schema, seed=seed)
    jsonschema.Draft202012Validator(schema).validate(value)
