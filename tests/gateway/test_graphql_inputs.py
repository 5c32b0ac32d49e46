"""Input objects built by ``InputBuilder``: for the gateway's input types and for a schema of every
kind of field, each value equals what strawberry's own conversion builds (the same classes, the
same field values, lists copied), and operations receive the same arguments either way."""

# no `from __future__ import annotations`: the classes made in a function need their annotations now
import enum
from dataclasses import fields
from typing import Any

import pytest
import strawberry
from strawberry.relay import GlobalID
from strawberry.scalars import JSON
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.maybe import Maybe

from claudegate.gateway.surfaces.graphql._batches import BatchInput
from claudegate.gateway.surfaces.graphql._input_builder import InputBuilder, build_inputs_directly
from claudegate.gateway.surfaces.graphql._inputs import JobInput, KeyInput, MessageInput
from claudegate.gateway.surfaces.graphql._schema import build_schema

MESSAGE = {"model": "m", "maxTokens": 10, "messages": [{"role": "user", "content": "hi"}]}
FULL = {
    **MESSAGE,
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "a"}]},
        {"role": "assistant", "content": "b"},
    ],
    "system": [{"type": "text", "text": "be brief"}],
    "tools": [{"name": "t", "input_schema": {"type": "object"}}],
    "toolChoice": {"type": "auto"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "temperature": 0.5,
    "topP": 0.9,
    "topK": 5,
    "stopSequences": ["x", "y"],
    "metadata": {"user_id": "u"},
}
CASES: list[tuple[type, dict[str, Any]]] = [
    (MessageInput, MESSAGE),
    (MessageInput, FULL),
    (MessageInput, {**MESSAGE, "system": None, "stopSequences": None, "temperature": None}),
    (JobInput, {"request": MESSAGE, "priority": "medium"}),
    (JobInput, {"request": FULL, "priority": "high", "metadata": {"k": [1, 2]}}),
    (KeyInput, {"name": "k"}),
    (KeyInput, {"name": "k", "allowedModels": ["a"], "limits": {"requestsPerMinute": 5}, "budget": None}),
    (KeyInput, {"name": "k", "limits": {"concurrentRequests": 2}, "budget": {"costPerDay": 1.5}}),
    (BatchInput, {"requests": [{"customId": "a", "params": MESSAGE}, {"customId": "b", "params": FULL}]}),
    (BatchInput, {"requests": [], "webhook": "https://example.com/hook"}),
]


def _definitions(converter: GraphQLCoreConverter) -> list[StrawberryObjectDefinition]:
    found = [concrete.definition for concrete in converter.type_map.values()]
    return [d for d in found if isinstance(d, StrawberryObjectDefinition) and d.is_input]


def _strawberrys(
    monkeypatch: pytest.MonkeyPatch, converter: GraphQLCoreConverter, value: Any, cls: Any, config: Any
) -> Any:
    """``value`` converted by strawberry itself (every input type without its builder)."""
    with monkeypatch.context() as patch:
        for definition in _definitions(converter):
            if isinstance(definition.from_input, InputBuilder):
                patch.setattr(definition, "from_input", None)
        return convert_argument(value, cls, converter.scalar_registry, config)


def _same(built: Any, expected: Any) -> None:
    """Equal, of the same classes all the way down."""
    assert type(built) is type(expected)
    if isinstance(expected, list):
        assert len(built) == len(expected)
        for item, other in zip(built, expected, strict=True):
            _same(item, other)
    elif hasattr(expected, "__strawberry_definition__"):
        for field in fields(expected):
            _same(getattr(built, field.name), getattr(expected, field.name))
    else:
        assert built == expected


@pytest.mark.parametrize(("cls", "value"), CASES)
def test_the_gateways_inputs_are_built_as_strawberry_builds_them(
    cls: type, value: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = build_schema()
    converter = schema.schema_converter
    assert all(isinstance(d.from_input, InputBuilder) for d in _definitions(converter))
    expected = _strawberrys(monkeypatch, converter, value, cls, schema.config)
    built = convert_argument(value, cls, converter.scalar_registry, schema.config)
    _same(built, expected)
    assert built == expected
    if isinstance(built, MessageInput) and built.stop_sequences is not None:
        assert built.stop_sequences is not value["stopSequences"]  # copied, as strawberry copies it


def _schema_of_every_kind() -> tuple[strawberry.Schema, list[Any]]:
    """A schema (classes of its own) whose input has a field of every kind, and what its query
    received."""
    received: list[Any] = []

    @strawberry.enum
    class Colour(enum.Enum):
        RED = "red"
        BLUE = "blue"

    @strawberry.input
    class Leaf:
        tags: list[str] = strawberry.field(default_factory=lambda: ["default"])
        colour: Colour | None = None

    @strawberry.input
    class Everything:
        name: str
        count: int = 3
        colours: list[Colour] | None = None
        leaves: list[Leaf | None] | None = None
        leaf: Leaf | None = None
        node: GlobalID | None = None
        nodes: list[GlobalID] | None = None
        blob: JSON | None = None
        numbers: list[list[int]] | None = None

    @strawberry.input
    class WithMaybe:
        name: Maybe[str | None]

    @strawberry.type
    class Query:
        @strawberry.field
        def take(self, value: Everything, other: WithMaybe | None = None) -> str:
            received.append((value, other))
            return "ok"

    return strawberry.Schema(query=Query), received


EVERYTHING = [
    {"name": "a"},
    {"name": "a", "count": 1, "colours": ["RED", "BLUE"], "leaf": {"colour": "BLUE"}},
    {"name": "a", "leaves": [{"tags": ["x"]}, None, {}], "leaf": None},
    {"name": "a", "node": str(GlobalID("T", "1")), "nodes": [str(GlobalID("T", "2"))]},
    {"name": "a", "blob": {"deep": [1, {"x": None}]}, "numbers": [[1, 2], [], [3]]},
]


@pytest.mark.parametrize("value", EVERYTHING)
def test_every_kind_of_field_is_built_as_strawberry_builds_it(value: dict[str, Any]) -> None:
    document = "query($v: Everything!, $o: WithMaybe) { take(value: $v, other: $o) }"
    variables = {"v": value, "o": {"name": None}}
    plain, plain_received = _schema_of_every_kind()
    direct, direct_received = _schema_of_every_kind()
    build_inputs_directly(direct.schema_converter)
    built = {d.name: d.from_input for d in _definitions(direct.schema_converter)}
    assert isinstance(built["Everything"], InputBuilder) and isinstance(built["Leaf"], InputBuilder)
    assert built["WithMaybe"] is None  # strawberry checks a Maybe's nulls itself: left to it
    expected, result = plain.execute_sync(document, variables), direct.execute_sync(document, variables)
    assert expected.errors is None and result.errors is None
    assert result.data == expected.data == {"take": "ok"}
    (value_built, other_built), (value_expected, other_expected) = direct_received[0], plain_received[0]
    assert repr(value_built) == repr(value_expected) and repr(other_built) == repr(other_expected)
    if value_expected.leaves is not None:
        assert value_built.leaves[0].tags == ["x"] and value_built.leaves[2].tags == ["default"]
    if value_expected.node is not None:
        assert isinstance(value_built.node, GlobalID) and isinstance(value_built.nodes[0], GlobalID)


def test_a_bad_value_gets_strawberrys_error() -> None:
    document = "query($v: Everything!) { take(value: $v) }"
    variables = {"v": {"name": "a", "node": "not a global id"}}
    plain, _ = _schema_of_every_kind()
    direct, _ = _schema_of_every_kind()
    build_inputs_directly(direct.schema_converter)
    expected, result = plain.execute_sync(document, variables), direct.execute_sync(document, variables)
    assert result.errors is not None and expected.errors is not None
    assert [e.formatted for e in result.errors] == [e.formatted for e in expected.errors]
