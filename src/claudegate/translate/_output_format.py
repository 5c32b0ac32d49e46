"""Structured outputs: OpenAI ``response_format`` <-> Anthropic ``output_config.format``.

A ``json_schema`` response format and a JSON-schema output format say the same thing (the answer's
text is JSON that satisfies the schema), so the schema crosses unchanged. What only one side has:

- OpenAI's ``name`` (required there): taken from the schema's ``title`` when it is a valid name,
  else ``"response"``; its ``description`` and ``strict`` have no Anthropic field.
- Anthropic always constrains the answer to the schema. ``strict: true`` is asked of an OpenAI
  upstream when the schema meets OpenAI's strict rules (every object closed with
  ``additionalProperties: false`` and every property required), which an upstream would otherwise
  reject; other schemas go without ``strict``.
- ``json_object`` (any JSON object) has no Anthropic form: it stays a forced tool (see
  ``_chat_tools``), and so does a ``json_schema`` without a ``schema``.
"""

from __future__ import annotations

import re
from typing import Any

from claudegate.translate._errors import fail

__all__ = ["output_format_of_response_format", "response_format_of_request"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DEFAULT_NAME = "response"
# Keywords whose values are data, not schemas; and those whose values map names to schemas.
_DATA = frozenset({"enum", "const", "default", "examples", "required", "title", "description"})
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})


def output_format_of_response_format(response_format: Any) -> dict[str, Any] | None:
    """The ``output_config.format`` for an OpenAI ``response_format``; None when it is not a schema.

    ``text``, ``json_object`` and a ``json_schema`` without ``schema`` give None (the last two are
    a forced tool); anything else that is not a valid format raises ``TranslationError``.
    """
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise fail("response_format", "must be an object")
    kind = response_format.get("type")
    if kind == "text" or kind == "json_object":
        return None
    if kind != "json_schema":
        raise fail("response_format.type", 'must be "text", "json_object" or "json_schema"')
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict):
        raise fail("response_format.json_schema", "must be an object")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise fail("response_format.json_schema.name", "must be a non-empty string")
    schema = spec.get("schema")
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise fail("response_format.json_schema.schema", "must be a JSON Schema object")
    return {"type": "json_schema", "schema": schema}


def response_format_of_request(body: dict[str, Any]) -> dict[str, Any] | None:
    """The OpenAI ``response_format`` for an Anthropic request's ``output_config.format`` (or None)."""
    config = body.get("output_config")
    output_format = config.get("format") if isinstance(config, dict) else None
    if not isinstance(output_format, dict) or output_format.get("type") != "json_schema":
        return None
    schema = output_format.get("schema")
    if not isinstance(schema, dict):
        return None
    title = schema.get("title")
    name = title if isinstance(title, str) and _NAME.fullmatch(title) else _DEFAULT_NAME
    spec: dict[str, Any] = {"name": name, "schema": schema}
    if _strict_ready(schema):
        spec["strict"] = True
    return {"type": "json_schema", "json_schema": spec}


def _strict_ready(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts ``schema``: every object closed, every property required."""
    if not isinstance(schema, dict):
        return True
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, dict):
        if schema.get("additionalProperties") is not False:
            return False
        required = schema.get("required") or []
        names = set(properties) if isinstance(properties, dict) else set()
        if not isinstance(required, list) or set(required) != names:
            return False
    for key, value in schema.items():
        if key in _DATA:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        elif isinstance(value, dict):
            children = (value,)
        else:
            continue
        if not all(_strict_ready(child) for child in children):
            return False
    return True
