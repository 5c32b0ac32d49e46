"""The OpenAPI description of the Responses API (``/v1/responses``), merged into ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from claudegate.gateway.surfaces._openapi_parts import (
    STRING,
    TEXT,
    TOOL_NAME,
    array,
    error_responses,
    json_content,
    object_schema,
    post,
    ref,
    sse,
    tagged,
)

__all__ = ["openapi_paths", "openapi_schemas"]


def openapi_schemas() -> dict[str, Any]:
    """``POST /v1/responses``: its request (checked in full by the translation), the response
    object, its stream events and the deletion receipt."""
    nullable_string = {"type": ["string", "null"]}
    item = {"type": "object", "additionalProperties": True}
    message = object_schema(
        {
            "type": {"const": "message"},
            "role": {"enum": ["user", "assistant", "system", "developer"]},
            "content": {"anyOf": [TEXT, array(tagged("input_text", {"text": TEXT}, "text"), min_items=1)]},
        },
        "role",
        "content",
    )
    call = tagged(
        "function_call",
        {"call_id": TEXT, "name": {"type": "string", "pattern": TOOL_NAME}, "arguments": TEXT},
        "call_id",
        "name",
        "arguments",
    )
    call_output = tagged("function_call_output", {"call_id": TEXT, "output": STRING}, "call_id", "output")
    function = tagged(
        "function",
        {
            "name": {"type": "string", "pattern": TOOL_NAME},
            "description": nullable_string,
            "parameters": {"anyOf": [item, {"type": "null"}]},
            "strict": {"type": ["boolean", "null"]},
        },
        "name",
    )
    request = object_schema(
        {
            "model": TEXT,
            "input": {"anyOf": [TEXT, array({"anyOf": [message, call, call_output]}, min_items=1)]},
            "instructions": nullable_string,
            "previous_response_id": nullable_string,
            "store": {"type": ["boolean", "null"]},
            "stream": {"type": ["boolean", "null"]},
            "max_output_tokens": {"type": ["integer", "null"], "minimum": 1},
            "tools": array(function),
            "tool_choice": {
                "anyOf": [
                    {"enum": ["none", "auto", "required"]},
                    tagged("function", {"name": TEXT}, "name"),
                ]
            },
            "parallel_tool_calls": {"type": ["boolean", "null"]},
            "text": object_schema(
                {
                    "format": {
                        "anyOf": [
                            tagged("text", {}),
                            tagged("json_object", {}),
                            tagged(
                                "json_schema",
                                {"name": TEXT, "schema": item, "strict": {"type": "boolean"}},
                                "name",
                                "schema",
                            ),
                        ]
                    },
                    "verbosity": {"enum": ["medium", None]},
                }
            ),
            "reasoning": object_schema(
                {
                    "effort": {"enum": ["none", "minimal", "low", "medium", "high", "xhigh", "max", None]},
                    "summary": {"enum": ["auto", "concise", "detailed", None]},
                }
            ),
            "include": array({"enum": ["reasoning.encrypted_content"]}),
            "truncation": {"enum": ["disabled", None]},
            "service_tier": {"enum": ["auto", "default", None]},
            "metadata": {"type": "object", "additionalProperties": STRING},
            "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
            "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "user": nullable_string,
        },
        "model",
        closed=False,
    )
    usage = object_schema(
        {
            "input_tokens": {"type": "integer"},
            "input_tokens_details": item,
            "output_tokens": {"type": "integer"},
            "output_tokens_details": item,
            "total_tokens": {"type": "integer"},
        },
        "input_tokens",
        "output_tokens",
        "total_tokens",
        closed=False,
    )
    status = {"enum": ["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"]}
    response = object_schema(
        {
            "id": STRING,
            "object": {"const": "response"},
            "created_at": {"type": "number"},
            "status": status,
            "model": STRING,
            "output": array(object_schema({"type": STRING}, "type", closed=False)),
            "usage": {"anyOf": [usage, {"type": "null"}]},
            "previous_response_id": nullable_string,
        },
        "id",
        "object",
        "created_at",
        "status",
        "model",
        "output",
        closed=False,
    )
    typed_event = object_schema(
        {"type": STRING, "sequence_number": {"type": "integer"}}, "type", "sequence_number", closed=False
    )
    # As the other streams: the schema describes one server-sent event, its data the typed event.
    event = object_schema(
        {
            "event": {"type": "string", "description": "The data's ``type``."},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": typed_event},
        },
        "event",
        "data",
        closed=False,
    )
    deleted = object_schema(
        {"id": STRING, "object": {"const": "response.deleted"}, "deleted": {"const": True}},
        "id",
        "object",
        "deleted",
    )
    return {
        "ResponsesRequest": request,
        "ResponseObject": response,
        "ResponsesServerSentEvent": event,
        "ResponseDeleted": deleted,
    }


def openapi_paths() -> dict[str, Any]:
    errors = error_responses("OpenAIErrorResponse", "an OpenAI error envelope")
    create = post(
        "Create a response (OpenAI Responses API), answered by Claude; `stream: true` answers with "
        "typed server-sent events; `store` (default true) keeps it for `previous_response_id`.",
        "ResponsesRequest",
        {**json_content(ref("ResponseObject")), **sse("ResponsesServerSentEvent")},
        errors,
    )
    response_id = [{"name": "response_id", "in": "path", "required": True, "schema": TEXT}]
    stored = {
        "get": {
            "summary": "A stored response of the caller (404 for another key's).",
            "parameters": response_id,
            "responses": {
                "200": {"description": "The response.", "content": json_content(ref("ResponseObject"))},
                **errors,
            },
        },
        "delete": {
            "summary": "Delete a stored response of the caller.",
            "parameters": response_id,
            "responses": {
                "200": {"description": "Deleted.", "content": json_content(ref("ResponseDeleted"))},
                **errors,
            },
        },
    }
    return {"/v1/responses": create, "/v1/responses/{response_id}": stored}
