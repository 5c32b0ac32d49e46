"""Checks of a custom tool's ``input_schema`` that the simulated model needs to call the tool.

Every tool call carries an input invented from the schema (``_schema_values``), so a schema it
cannot build an instance of is refused up front, with a 400 naming the field
(``tools.0.custom.input_schema.properties.code.pattern: ...``):

- each ``pattern``, and each ``patternProperties`` key, must compile as a regular expression
  (Python's ``re`` syntax, which covers the ECMA-262 patterns tool schemas use in practice);
- ``minItems``, ``minContains`` and ``minProperties`` may be at most ``MAX_ITEMS`` (10,000) and
  ``minLength`` at most ``MAX_LENGTH`` (100,000): an instance must be at least that large, and
  larger ones would stall the simulator or exhaust its memory.

Only schema positions are walked (``properties`` values, ``items``, ``allOf`` members, ``$defs``,
...), never data such as ``enum``, ``const`` or ``default``, where these names mean nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from claudegate.simulator._errors import fail
from claudegate.simulator._schema_values import MAX_ITEMS, MAX_LENGTH

__all__ = ["check_tool_schema"]

_ONE_SCHEMA = (
    "additionalProperties",
    "additionalItems",
    "items",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies")
_CAPS = (
    ("minItems", MAX_ITEMS),
    ("minContains", MAX_ITEMS),
    ("minProperties", MAX_ITEMS),
    ("minLength", MAX_LENGTH),
)


def _check_regex(pattern: str, path: str) -> None:
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        fail(f"{path}: {pattern!r} is not a valid regular expression ({exc})")


def _check_node(node: Mapping[str, Any], path: str) -> None:
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        _check_regex(pattern, f"{path}.pattern")
    patterns = node.get("patternProperties")
    if isinstance(patterns, Mapping):
        for key in patterns:
            _check_regex(key, f"{path}.patternProperties.{key}")
    for key, cap in _CAPS:
        value = node.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > cap:
            fail(f"{path}.{key}: Input should be less than or equal to {cap} (the simulator's limit)")


def check_tool_schema(schema: Mapping[str, Any], path: str) -> None:
    """Refuse (400) a schema with an invalid regular expression or a size beyond the simulator's limits."""
    pending: list[tuple[Any, str]] = [(schema, path)]
    while pending:  # a loop, not recursion: schemas may nest deeper than Python's stack allows
        node, where = pending.pop()
        if not isinstance(node, Mapping):
            continue
        _check_node(node, where)
        for key in _ONE_SCHEMA:
            if isinstance(node.get(key), Mapping):
                pending.append((node[key], f"{where}.{key}"))
        for key in _SCHEMA_LISTS:
            members = node.get(key)
            if isinstance(members, list):
                pending.extend((member, f"{where}.{key}.{index}") for index, member in enumerate(members))
        for key in _SCHEMA_MAPS:
            members = node.get(key)
            if isinstance(members, Mapping):
                pending.extend((member, f"{where}.{key}.{name}") for name, member in members.items())
