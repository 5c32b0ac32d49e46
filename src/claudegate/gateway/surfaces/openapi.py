"""``GET /openapi.json``: the gateway's public HTTP API as an OpenAPI 3.1 document.

Answers are described by the canonical pydantic models (``Message``, ``ErrorResponse``, ...);
request bodies are written out here by hand, because the request models keep unknown fields and
unknown block types on purpose (``Unknown…`` union members), which would document "anything goes"
and make every ``oneOf`` ambiguous. The hand-written schemas name only what the gateway accepts
and pass on, so a client (or a fuzzer) generating from them sends requests the gateway answers.
The document is built on first use and kept, as bytes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from pydantic import TypeAdapter

from claudegate._version import __version__
from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore
from claudegate.gateway.surfaces import batches_openapi as batches
from claudegate.gateway.surfaces import events_openapi as events
from claudegate.gateway.surfaces import jobs_openapi as jobs
from claudegate.translate import FINISH_REASONS
from claudegate.types import ErrorResponse, Message, MessageTokensCount, StreamEvent

__all__ = ["document", "openapi"]

_REFS = "#/components/schemas/"
_TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"
_STRING = {"type": "string"}
_TEXT = {"type": "string", "minLength": 1}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REFS + name}


def _object(properties: dict[str, Any], *required: str, closed: bool = True) -> dict[str, Any]:
    """An object schema; ``closed`` ones document no other fields (the gateway forwards them anyway)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _tagged(tag: str, properties: dict[str, Any], *required: str) -> dict[str, Any]:
    """An object told apart from its union siblings by ``type``."""
    return _object({"type": {"const": tag}, **properties}, "type", *required)


def _array(items: dict[str, Any], *, min_items: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": items}
    if min_items:
        schema["minItems"] = min_items
    return schema


_UNSET_SAMPLER = "-1 means unset: dropped before the upstream when the route normalizes sampling."


def _number(maximum: float) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": maximum}


def _anthropic_request_schemas() -> dict[str, Any]:
    cache_control = _object({"type": {"const": "ephemeral"}, "ttl": {"enum": ["5m", "1h"]}}, "type")
    text = _tagged("text", {"text": _TEXT, "cache_control": _ref("CacheControlParam")}, "text")
    image_source = {
        "oneOf": [
            _tagged(
                "base64",
                {
                    "media_type": {"enum": ["image/jpeg", "image/png", "image/gif", "image/webp"]},
                    "data": {"type": "string", "contentEncoding": "base64"},
                },
                "media_type",
                "data",
            ),
            _tagged("url", {"url": {"type": "string", "format": "uri"}}, "url"),
        ]
    }
    image = _tagged("image", {"source": image_source, "cache_control": _ref("CacheControlParam")}, "source")
    tool_use = _tagged(
        "tool_use",
        {
            "id": {"type": "string", "pattern": "^[a-zA-Z0-9_-]+$"},
            "name": {"type": "string", "pattern": _TOOL_NAME},
            "input": {"type": "object"},
            "cache_control": _ref("CacheControlParam"),
        },
        "id",
        "name",
        "input",
    )
    result_content = {
        "oneOf": [_STRING, _array({"oneOf": [_ref("TextBlockParam"), _ref("ImageBlockParam")]})]
    }
    tool_result = _tagged(
        "tool_result",
        {
            "tool_use_id": {"type": "string", "pattern": "^[a-zA-Z0-9_-]+$"},
            "content": result_content,
            "is_error": {"type": "boolean"},
            "cache_control": _ref("CacheControlParam"),
        },
        "tool_use_id",
    )
    blocks = ("TextBlockParam", "ImageBlockParam", "ToolUseBlockParam", "ToolResultBlockParam")
    message = _object(
        {
            "role": {"enum": ["user", "assistant"]},
            "content": {"oneOf": [_TEXT, _array(_ref("ContentBlockParam"), min_items=1)]},
        },
        "role",
        "content",
    )
    tool = _object(
        {
            "name": {"type": "string", "pattern": _TOOL_NAME},
            "description": _STRING,
            # Any JSON Schema of an object: other keywords are the caller's.
            "input_schema": _object({"type": {"const": "object"}}, "type", closed=False),
            "cache_control": _ref("CacheControlParam"),
        },
        "name",
        "input_schema",
    )
    parallel = {"disable_parallel_tool_use": {"type": "boolean"}}
    tool_choice = {
        "oneOf": [
            _tagged("auto", parallel),
            _tagged("any", parallel),
            _tagged("tool", {"name": {"type": "string", "pattern": _TOOL_NAME}, **parallel}, "name"),
            _tagged("none", {}),
        ]
    }
    thinking = {
        "oneOf": [
            _tagged("enabled", {"budget_tokens": {"type": "integer", "minimum": 1024}}, "budget_tokens"),
            _tagged("disabled", {}),
            _tagged("adaptive", {}),
        ]
    }
    prompt = {
        "model": {"type": "string", "minLength": 1, "examples": ["claude-sonnet-4-5"]},
        "messages": _array(_ref("MessageParam"), min_items=1),
        "system": {"oneOf": [_STRING, _array(_ref("TextBlockParam"), min_items=1)]},
        "tools": _array(_ref("ToolParam")),
        "tool_choice": _ref("ToolChoiceParam"),
        "thinking": _ref("ThinkingConfigParam"),
    }
    create = _object(
        {
            **prompt,
            "max_tokens": {
                "type": "integer",
                "minimum": 1,
                "description": "At most the model's output limit.",
            },
            "stream": {"type": "boolean"},
            "temperature": _number(1),
            "top_p": {"anyOf": [_number(1), {"const": -1}], "description": _UNSET_SAMPLER},
            "top_k": {"type": "integer", "minimum": -1, "description": _UNSET_SAMPLER},
            "stop_sequences": _array(_STRING),
            "metadata": _object({"user_id": {"type": ["string", "null"]}}),
        },
        "model",
        "max_tokens",
        "messages",
    )
    return {
        "CacheControlParam": cache_control,
        "TextBlockParam": text,
        "ImageBlockParam": image,
        "ToolUseBlockParam": tool_use,
        "ToolResultBlockParam": tool_result,
        "ContentBlockParam": {"oneOf": [_ref(name) for name in blocks]},
        "MessageParam": message,
        "ToolParam": tool,
        "ToolChoiceParam": tool_choice,
        "ThinkingConfigParam": thinking,
        "MessagesRequest": create,
        "CountTokensRequest": _object(prompt, "model", "messages"),
    }


def _chat_message_schemas() -> dict[str, Any]:
    text_part = _object({"type": {"const": "text"}, "text": _STRING}, "type", "text")
    image_part = _object(
        {
            "type": {"const": "image_url"},
            "image_url": _object(
                {
                    "url": {
                        "type": "string",
                        "pattern": r"^(https?://|data:[-+.\w]+/[-+.\w]+;base64,)",
                        "description": "An http(s) URL (not fetched: Claude is given the URL) or a "
                        "base64 data: URL.",
                    },
                    "detail": {"enum": ["auto", "low", "high"]},
                },
                "url",
            ),
        },
        "type",
        "image_url",
    )
    text_parts = _array(_ref("ChatTextPart"))
    texts = {"oneOf": [_STRING, text_parts]}
    name = {"name": _STRING}
    call = _object(
        {
            "id": _TEXT,
            "type": {"const": "function"},
            "function": _object(
                {
                    "name": _TEXT,
                    "arguments": {"type": "string", "description": "A JSON object, encoded."},
                },
                "name",
                "arguments",
            ),
        },
        "id",
        "type",
        "function",
    )
    return {
        "ChatTextPart": text_part,
        "ChatImagePart": image_part,
        "ChatMessage": {
            "oneOf": [
                _object(
                    {"role": {"enum": ["system", "developer"]}, "content": texts, **name}, "role", "content"
                ),
                _object(
                    {
                        "role": {"const": "user"},
                        "content": {
                            "oneOf": [
                                _STRING,
                                _array({"oneOf": [_ref("ChatTextPart"), _ref("ChatImagePart")]}),
                            ]
                        },
                        **name,
                    },
                    "role",
                    "content",
                ),
                _object(
                    {
                        "role": {"const": "assistant"},
                        "content": {"oneOf": [_STRING, text_parts, {"type": "null"}]},
                        "refusal": {"type": ["string", "null"]},
                        "tool_calls": _array(call),
                        **name,
                    },
                    "role",
                ),
                _object(
                    {"role": {"const": "tool"}, "tool_call_id": _TEXT, "content": texts},
                    "role",
                    "tool_call_id",
                ),
            ]
        },
    }


def _chat_request_schemas() -> dict[str, Any]:
    function = _object(
        {
            "name": {"type": "string", "pattern": _TOOL_NAME},
            "description": _STRING,
            "parameters": _object({"type": {"const": "object"}}, closed=False),
            "strict": {"type": "boolean"},
        },
        "name",
    )
    tool_choice = {
        "oneOf": [
            {"enum": ["none", "auto", "required"]},
            _object(
                {"type": {"const": "function"}, "function": _object({"name": _TEXT}, "name")},
                "type",
                "function",
            ),
        ]
    }
    json_schema = _object(
        {
            "name": {"type": "string", "pattern": _TOOL_NAME},
            "description": _STRING,
            "schema": _object({"type": {"const": "object"}}, closed=False),
            "strict": {"type": "boolean"},
        },
        "name",
    )
    response_format = {
        "oneOf": [
            _tagged("text", {}),
            _tagged("json_object", {}),
            _tagged("json_schema", {"json_schema": json_schema}, "json_schema"),
        ]
    }
    positive = {"type": "integer", "minimum": 1}
    request = _object(
        {
            "model": {"type": "string", "minLength": 1, "examples": ["claude-sonnet-4-5"]},
            "messages": _array(_ref("ChatMessage"), min_items=1),
            "tools": _array(
                _object({"type": {"const": "function"}, "function": function}, "type", "function")
            ),
            "tool_choice": tool_choice,
            "parallel_tool_calls": {"type": "boolean"},
            "response_format": response_format,
            "stream": {"type": "boolean"},
            "stream_options": _object({"include_usage": {"type": "boolean"}}),
            "max_tokens": positive,
            "max_completion_tokens": positive,
            "temperature": {**_number(2), "description": "Values above 1 are sent to Claude as 1."},
            "top_p": _number(1),
            "stop": {"oneOf": [_STRING, _array(_STRING)]},
            "n": {"const": 1},
            "user": _STRING,
        },
        "model",
        "messages",
    )
    return {**_chat_message_schemas(), "ChatCompletionRequest": request}


def _canonical_answer_schemas() -> dict[str, Any]:
    """Anthropic answers and stream events: the canonical models' own schemas."""
    kinds: list[tuple[str, Any]] = [
        ("Message", Message),
        ("MessageTokensCount", MessageTokensCount),
        ("ErrorResponse", ErrorResponse),
        ("StreamEvent", StreamEvent),
    ]
    top, found = TypeAdapter.json_schemas(
        [(name, "validation", TypeAdapter(kind)) for name, kind in kinds], ref_template=_REFS + "{model}"
    )
    schemas: dict[str, Any] = {**found["$defs"], "StreamEvent": top["StreamEvent", "validation"]}
    schemas["AnthropicServerSentEvent"] = _object(
        {
            "event": {"type": "string", "description": "The data's ``type``."},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": _ref("StreamEvent"),
            },
        },
        "event",
        "data",
        closed=False,
    )
    canonical: dict[str, Any] = _any_of(schemas)
    return canonical


def _openai_answer_schemas() -> dict[str, Any]:
    """Chat completions, their stream chunks and OpenAI's error envelope."""
    error = _object(
        {
            "error": _object(
                {
                    "message": _STRING,
                    "type": _STRING,
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "integer", "null"]},
                },
                "message",
                "type",
                closed=False,
            )
        },
        "error",
        closed=False,
    )
    call = _object(
        {
            "id": _STRING,
            "type": {"const": "function"},
            "function": _object({"name": _STRING, "arguments": _STRING}, "name", "arguments", closed=False),
        },
        "id",
        "type",
        "function",
        closed=False,
    )
    finish_reason = {"enum": sorted(FINISH_REASONS)}
    message = _object(
        {"role": {"const": "assistant"}, "content": {"type": ["string", "null"]}, "tool_calls": _array(call)},
        "role",
        "content",
        closed=False,
    )
    choice = _object(
        {"index": {"type": "integer"}, "message": message, "finish_reason": finish_reason},
        "index",
        "message",
        "finish_reason",
        closed=False,
    )
    delta = _object(
        {
            "index": {"type": "integer"},
            "delta": {"type": "object"},
            "finish_reason": {"anyOf": [finish_reason, {"type": "null"}]},
        },
        "index",
        "delta",
        closed=False,
    )
    counts = {key: {"type": "integer", "minimum": 0} for key in ("prompt_tokens", "completion_tokens")}
    usage = _object({**counts, "total_tokens": {"type": "integer"}}, *counts, closed=False)
    envelope = {"id": _STRING, "created": {"type": "integer"}, "model": _STRING, "usage": usage}
    required = ("id", "object", "created", "model", "choices")
    completion = _object(
        {**envelope, "object": {"const": "chat.completion"}, "choices": _array(choice, min_items=1)},
        *required,
        closed=False,
    )
    # The last chunk may carry only usage, with ``choices: []``.
    chunk = _object(
        {**envelope, "object": {"const": "chat.completion.chunk"}, "choices": _array(delta)},
        *required,
        closed=False,
    )
    chunk_data = {"anyOf": [_ref("ChatCompletionChunk"), _ref("OpenAIErrorResponse")]}
    event = _object(
        {
            "data": {
                "anyOf": [
                    {"const": "[DONE]"},
                    {"type": "string", "contentMediaType": "application/json", "contentSchema": chunk_data},
                ]
            }
        },
        "data",
        closed=False,
    )
    return {
        "OpenAIErrorResponse": error,
        "ChatCompletion": completion,
        "ChatCompletionChunk": chunk,
        "ChatServerSentEvent": event,
    }


def _answer_schemas() -> dict[str, Any]:
    """Every answer: canonical, OpenAI, and the catalogue and status shapes both dialects read."""
    model = _object(
        {
            "id": _STRING,
            "type": {"const": "model"},
            "display_name": _STRING,
            "created_at": {"type": "string", "format": "date-time"},
            "object": {"const": "model"},
            "created": {"type": "integer"},
            "owned_by": _STRING,
        },
        "id",
        "type",
        "display_name",
        "created_at",
        "object",
        "created",
        "owned_by",
        closed=False,
    )
    nullable_id = {"type": ["string", "null"]}
    models = _object(
        {
            "object": {"const": "list"},
            "data": _array(_ref("ModelInfo")),
            "has_more": {"type": "boolean"},
            "first_id": nullable_id,
            "last_id": nullable_id,
        },
        "object",
        "data",
        "has_more",
        closed=False,
    )
    return {
        **_canonical_answer_schemas(),
        **_openai_answer_schemas(),
        "ModelInfo": model,
        "ModelList": models,
        "Status": _object({"status": _STRING}, "status", closed=False),
    }


def _responses_schemas() -> dict[str, Any]:
    """``POST /v1/responses``: its request (checked in full by the translation), the response
    object, its stream events and the deletion receipt."""
    nullable_string = {"type": ["string", "null"]}
    item = {"type": "object", "additionalProperties": True}
    message = _object(
        {
            "type": {"const": "message"},
            "role": {"enum": ["user", "assistant", "system", "developer"]},
            "content": {
                "anyOf": [_TEXT, _array(_tagged("input_text", {"text": _TEXT}, "text"), min_items=1)]
            },
        },
        "role",
        "content",
    )
    call = _tagged(
        "function_call",
        {"call_id": _TEXT, "name": {"type": "string", "pattern": _TOOL_NAME}, "arguments": _TEXT},
        "call_id",
        "name",
        "arguments",
    )
    call_output = _tagged("function_call_output", {"call_id": _TEXT, "output": _STRING}, "call_id", "output")
    function = _tagged(
        "function",
        {
            "name": {"type": "string", "pattern": _TOOL_NAME},
            "description": nullable_string,
            "parameters": {"anyOf": [item, {"type": "null"}]},
            "strict": {"type": ["boolean", "null"]},
        },
        "name",
    )
    request = _object(
        {
            "model": _TEXT,
            "input": {"anyOf": [_TEXT, _array({"anyOf": [message, call, call_output]}, min_items=1)]},
            "instructions": nullable_string,
            "previous_response_id": nullable_string,
            "store": {"type": ["boolean", "null"]},
            "stream": {"type": ["boolean", "null"]},
            "max_output_tokens": {"type": ["integer", "null"], "minimum": 1},
            "tools": _array(function),
            "tool_choice": {
                "anyOf": [
                    {"enum": ["none", "auto", "required"]},
                    _tagged("function", {"name": _TEXT}, "name"),
                ]
            },
            "parallel_tool_calls": {"type": ["boolean", "null"]},
            "text": _object(
                {
                    "format": {
                        "anyOf": [
                            _tagged("text", {}),
                            _tagged("json_object", {}),
                            _tagged(
                                "json_schema",
                                {"name": _TEXT, "schema": item, "strict": {"type": "boolean"}},
                                "name",
                                "schema",
                            ),
                        ]
                    },
                    "verbosity": {"enum": ["medium", None]},
                }
            ),
            "reasoning": _object(
                {
                    "effort": {"enum": ["none", "minimal", "low", "medium", "high", "xhigh", "max", None]},
                    "summary": {"enum": ["auto", "concise", "detailed", None]},
                }
            ),
            "include": _array({"enum": ["reasoning.encrypted_content"]}),
            "truncation": {"enum": ["disabled", None]},
            "service_tier": {"enum": ["auto", "default", None]},
            "metadata": {"type": "object", "additionalProperties": _STRING},
            "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
            "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "user": nullable_string,
        },
        "model",
        closed=False,
    )
    usage = _object(
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
    response = _object(
        {
            "id": _STRING,
            "object": {"const": "response"},
            "created_at": {"type": "number"},
            "status": status,
            "model": _STRING,
            "output": _array(_object({"type": _STRING}, "type", closed=False)),
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
    event = _object(
        {"type": _STRING, "sequence_number": {"type": "integer"}}, "type", "sequence_number", closed=False
    )
    deleted = _object(
        {"id": _STRING, "object": {"const": "response.deleted"}, "deleted": {"const": True}},
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


def _responses_paths() -> dict[str, Any]:
    errors = _errors("OpenAIErrorResponse", "an OpenAI error envelope")
    create = _post(
        "Create a response (OpenAI Responses API), answered by Claude; `stream: true` answers with "
        "typed server-sent events; `store` (default true) keeps it for `previous_response_id`.",
        "ResponsesRequest",
        {**_json(_ref("ResponseObject")), **_sse("ResponsesServerSentEvent")},
        errors,
    )
    response_id = [{"name": "response_id", "in": "path", "required": True, "schema": _TEXT}]
    stored = {
        "get": {
            "summary": "A stored response of the caller (404 for another key's).",
            "parameters": response_id,
            "responses": {
                "200": {"description": "The response.", "content": _json(_ref("ResponseObject"))},
                **errors,
            },
        },
        "delete": {
            "summary": "Delete a stored response of the caller.",
            "parameters": response_id,
            "responses": {
                "200": {"description": "Deleted.", "content": _json(_ref("ResponseDeleted"))},
                **errors,
            },
        },
    }
    return {"/v1/responses": create, "/v1/responses/{response_id}": stored}


def _any_of(schema: Any) -> Any:
    """``schema`` with every ``oneOf`` read as ``anyOf``: a canonical union's catch-all member
    (``UnknownContentBlock``) also matches known blocks, and pydantic takes the first match."""
    if isinstance(schema, dict):
        return {("anyOf" if key == "oneOf" else key): _any_of(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_any_of(item) for item in schema]
    return schema


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(envelope: str, description: str) -> dict[str, Any]:
    content = _json(_ref(envelope))
    return {
        "4XX": {"description": f"The request was refused: {description}.", "content": content},
        "5XX": {"description": "An upstream failed, or none could answer in time.", "content": content},
    }


# Which envelope an answer off the two model surfaces carries follows the caller's dialect.
_EITHER_ERROR = {"anyOf": [_ref("ErrorResponse"), _ref("OpenAIErrorResponse")]}

_ANTHROPIC_HEADERS = [
    {"name": "anthropic-version", "in": "header", "schema": _STRING, "example": "2023-06-01"},
    {"name": "anthropic-beta", "in": "header", "schema": _STRING, "description": "Comma-separated betas."},
]


def _sse(event: str) -> dict[str, Any]:
    """A stream's media type; before OpenAPI 3.2's ``itemSchema``, ``schema`` describes one event."""
    return {"text/event-stream": {"schema": _ref(event)}}


def _post(summary: str, request: str, answer: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": _json(_ref(request))},
            "responses": {"200": {"description": "The answer.", "content": answer}, **errors},
        }
    }


def _get(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": responses, **extra}}


def _paths() -> dict[str, Any]:
    anthropic_errors = _errors("ErrorResponse", "an Anthropic error envelope")
    messages = _post(
        "Create a message (Anthropic Messages API); `stream: true` answers with server-sent events.",
        "MessagesRequest",
        {**_json(_ref("Message")), **_sse("AnthropicServerSentEvent")},
        anthropic_errors,
    )
    count = _post(
        "Count a request's input tokens (an estimate, marked `x-token-count-estimate`, when the "
        "upstream cannot count).",
        "CountTokensRequest",
        _json(_ref("MessageTokensCount")),
        anthropic_errors,
    )
    for operation in (messages["post"], count["post"]):
        operation["parameters"] = _ANTHROPIC_HEADERS
    chat = _post(
        "Create a chat completion (OpenAI Chat Completions API), answered by Claude.",
        "ChatCompletionRequest",
        {**_json(_ref("ChatCompletion")), **_sse("ChatServerSentEvent")},
        _errors("OpenAIErrorResponse", "an OpenAI error envelope"),
    )
    either = {
        "4XX": {
            "description": "Anthropic's envelope for callers sending `anthropic-version` or `x-api-key`, "
            "else OpenAI's.",
            "content": _json(_EITHER_ERROR),
        }
    }
    paging = [
        {"name": "after_id", "in": "query", "schema": _STRING},
        {"name": "before_id", "in": "query", "schema": _STRING},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    ]
    model_id = [{"name": "model_id", "in": "path", "required": True, "schema": _TEXT}]
    open_access: dict[str, Any] = {"security": []}
    status = {"description": "The status.", "content": _json(_ref("Status"))}
    return {
        "/v1/messages": messages,
        "/v1/messages/count_tokens": count,
        "/v1/chat/completions": chat,
        "/v1/models": _get(
            "List the models callers can name.",
            {"200": {"description": "One page.", "content": _json(_ref("ModelList"))}, **either},
            parameters=paging,
        ),
        "/v1/models/{model_id}": _get(
            "Describe one model (an alias gives its dated entry).",
            {"200": {"description": "The model.", "content": _json(_ref("ModelInfo"))}, **either},
            parameters=model_id,
        ),
        "/health": _get("Liveness: the process answers.", {"200": status}, **open_access),
        "/ready": _get(
            "Readiness: 503 while starting, or while shared counters are down under `fail_closed`.",
            {"200": status, "503": status},
            **open_access,
        ),
        "/metrics": _get(
            "Prometheus metrics.",
            {
                "200": {
                    "description": "Text exposition format.",
                    "content": {"text/plain": {"schema": _STRING}},
                },
                **either,
            },
        ),
    }


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the gateway's public HTTP API (built once; do not modify it).

    >>> document()["paths"]["/v1/messages"]["post"]["requestBody"]["required"]
    True
    """
    schemas = {**_anthropic_request_schemas(), **_chat_request_schemas()}
    answers = {
        **_answer_schemas(),
        **_responses_schemas(),
        **jobs.openapi_schemas(),
        **batches.openapi_schemas(),
        **events.openapi_schemas(),
    }
    clashes = schemas.keys() & answers.keys()
    if clashes:  # a request schema named like a canonical model would silently replace it
        raise RuntimeError(f"schema names used twice: {sorted(clashes)}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "claudegate",
            "version": __version__,
            "description": "A gateway that speaks the Anthropic Messages API and the OpenAI Chat "
            "Completions API, and routes each request to its upstream deployments.",
        },
        # Keys are checked once any is issued; a gateway with none runs open.
        "security": [{"apiKey": []}, {"bearer": []}, {}],
        "paths": {
            **_paths(),
            **_responses_paths(),
            **jobs.openapi_paths(),
            **batches.openapi_paths(),
            **events.openapi_paths(),
        },
        "components": {
            "schemas": {**schemas, **answers},
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


@cache
def _body() -> bytes:
    return orjson.dumps(document())


async def openapi(core: GatewayCore, exchange: Exchange) -> None:
    """Answer ``GET /openapi.json`` with ``document()``."""
    await exchange.send_bytes(200, _body())
