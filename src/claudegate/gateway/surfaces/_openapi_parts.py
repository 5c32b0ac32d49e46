"""Builders the OpenAPI descriptions share (``openapi.py`` and the per-area ``*_openapi.py``)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "REFS",
    "STRING",
    "TEXT",
    "TOOL_NAME",
    "any_of",
    "array",
    "error_responses",
    "get",
    "json_content",
    "object_schema",
    "post",
    "ref",
    "sse",
    "tagged",
]

REFS = "#/components/schemas/"
TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"
STRING = {"type": "string"}
TEXT = {"type": "string", "minLength": 1}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REFS + name}


def object_schema(properties: dict[str, Any], *required: str, closed: bool = True) -> dict[str, Any]:
    """An object schema; ``closed`` ones document no other fields (the gateway forwards them anyway)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def tagged(tag: str, properties: dict[str, Any], *required: str) -> dict[str, Any]:
    """An object told apart from its union siblings by ``type``."""
    return object_schema({"type": {"const": tag}, **properties}, "type", *required)


def array(items: dict[str, Any], *, min_items: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": items}
    if min_items:
        schema["minItems"] = min_items
    return schema


def any_of(schema: Any) -> Any:
    """``schema`` with every ``oneOf`` read as ``anyOf``: a canonical union's catch-all member
    (``UnknownContentBlock``) also matches known blocks, and pydantic takes the first match."""
    if isinstance(schema, dict):
        return {("anyOf" if key == "oneOf" else key): any_of(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [any_of(item) for item in schema]
    return schema


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def error_responses(envelope: str, description: str) -> dict[str, Any]:
    content = json_content(ref(envelope))
    return {
        "4XX": {"description": f"The request was refused: {description}.", "content": content},
        "5XX": {"description": "An upstream failed, or none could answer in time.", "content": content},
    }


def sse(event: str) -> dict[str, Any]:
    """A stream's media type; before OpenAPI 3.2's ``itemSchema``, ``schema`` describes one event."""
    return {"text/event-stream": {"schema": ref(event)}}


def post(summary: str, request: str, answer: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": json_content(ref(request))},
            "responses": {"200": {"description": "The answer.", "content": answer}, **errors},
        }
    }


def get(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": responses, **extra}}
