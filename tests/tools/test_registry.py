from __future__ import annotations

import importlib
import inspect

import jsonschema_rs
import pytest
from pydantic import BaseModel

from claudegate.errors import UserError
from claudegate.tools import ToolRegistry, tool


class Address(BaseModel):
    street: str
    city: str


class Receipt(BaseModel):
    address: Address
    total: float


@tool(version="2")
async def ship(to: Address, weight: float) -> Receipt:
    """Ship a parcel.

    Args:
        to: Destination.
        weight: Kilograms.
    """
    return Receipt(address=to, total=weight * 2)


@tool
def ping() -> str:
    """Say pong."""
    return "pong"


def test_duplicate_names_are_refused() -> None:
    registry = ToolRegistry([ping])
    with pytest.raises(UserError, match="'ping' is already registered"):
        registry.add(tool(name="ping")(lambda: "x"))
    assert len(registry) == 1 and "ping" in registry


def test_anthropic_and_openai_exports() -> None:
    registry = ToolRegistry([ping, ship])
    anthropic = registry.to_anthropic()
    assert [t["name"] for t in anthropic] == ["ping", "ship"]
    assert anthropic[1]["input_schema"]["properties"]["weight"]["description"] == "Kilograms."
    openai = registry.to_openai()
    assert openai[0] == {
        "type": "function",
        "function": {"name": "ping", "description": "Say pong.", "parameters": ping.input_schema},
    }


def test_openapi_document_is_valid_and_its_refs_resolve() -> None:
    shipped = tool(output=Receipt, name="ship")(ship.function)
    document = ToolRegistry([ping, shipped]).to_openapi(title="t")
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/tools/ping", "/tools/ship"}
    operation = document["paths"]["/tools/ship"]["post"]
    assert operation["operationId"] == "ship"
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    result_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    # Every $ref must resolve against the document's root: carry its components along.
    address = {"street": "a", "city": "b"}
    cases = [
        (body_schema, {"to": address, "weight": 1.0}, {"to": {"street": "a"}, "weight": 1}),
        (result_schema, {"address": address, "total": 2}, {"address": {}, "total": 2}),
    ]
    for schema, good, bad in cases:
        validator = jsonschema_rs.validator_for({**schema, "components": document["components"]})
        assert validator.is_valid(good)
        assert not validator.is_valid(bad)


def test_public_names_are_exported_and_documented() -> None:
    module = importlib.import_module("claudegate.tools")
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
            assert isinstance(doc, str) and doc.strip(), name
