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
from claudegate.gateway.surfaces import responses_openapi as responses
from claudegate.gateway.surfaces import retrieval_openapi as retrieval
from claudegate.gateway.surfaces import usage_openapi as usage
from claudegate.gateway.surfaces._openapi_parts import (
    REFS,
    STRING,
    TEXT,
    TOOL_NAME,
    any_of,
    array,
    error_responses,
    get,
    json_content,
    object_schema,
    post,
    ref,
    sse,
    tagged,
)
from claudegate.translate import FINISH_REASONS
from claudegate.types import ErrorResponse, Message, MessageTokensCount, StreamEvent

__all__ = ["document", "openapi"]

_UNSET_SAMPLER = "-1 means unset: dropped before the upstream when the route normalizes sampling."


def _number(maximum: float) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": maximum}


def _anthropic_request_schemas() -> dict[str, Any]:
    cache_control = object_schema({"type": {"const": "ephemeral"}, "ttl": {"enum": ["5m", "1h"]}}, "type")
    text = tagged("text", {"text": TEXT, "cache_control": ref("CacheControlParam")}, "text")
    image_source = {
        "oneOf": [
            tagged(
                "base64",
                {
                    "media_type": {"enum": ["image/jpeg", "image/png", "image/gif", "image/webp"]},
                    "data": {"type": "string", "contentEncoding": "base64"},
                },
                "media_type",
                "data",
            ),
            tagged("url", {"url": {"type": "string", "format": "uri"}}, "url"),
        ]
    }
    image = tagged("image", {"source": image_source, "cache_control": ref("CacheControlParam")}, "source")
    tool_use = tagged(
        "tool_use",
        {
            "id": {"type": "string", "pattern": "^[a-zA-Z0-9_-]+$"},
            "name": {"type": "string", "pattern": TOOL_NAME},
            "input": {"type": "object"},
            "cache_control": ref("CacheControlParam"),
        },
        "id",
        "name",
        "input",
    )
    result_content = {"oneOf": [STRING, array({"oneOf": [ref("TextBlockParam"), ref("ImageBlockParam")]})]}
    tool_result = tagged(
        "tool_result",
        {
            "tool_use_id": {"type": "string", "pattern": "^[a-zA-Z0-9_-]+$"},
            "content": result_content,
            "is_error": {"type": "boolean"},
            "cache_control": ref("CacheControlParam"),
        },
        "tool_use_id",
    )
    blocks = ("TextBlockParam", "ImageBlockParam", "ToolUseBlockParam", "ToolResultBlockParam")
    message = object_schema(
        {
            "role": {"enum": ["user", "assistant"]},
            "content": {"oneOf": [TEXT, array(ref("ContentBlockParam"), min_items=1)]},
        },
        "role",
        "content",
    )
    tool = object_schema(
        {
            "name": {"type": "string", "pattern": TOOL_NAME},
            "description": STRING,
            # Any JSON Schema of an object: other keywords are the caller's.
            "input_schema": object_schema({"type": {"const": "object"}}, "type", closed=False),
            "cache_control": ref("CacheControlParam"),
        },
        "name",
        "input_schema",
    )
    parallel = {"disable_parallel_tool_use": {"type": "boolean"}}
    tool_choice = {
        "oneOf": [
            tagged("auto", parallel),
            tagged("any", parallel),
            tagged("tool", {"name": {"type": "string", "pattern": TOOL_NAME}, **parallel}, "name"),
            tagged("none", {}),
        ]
    }
    thinking = {
        "oneOf": [
            tagged("enabled", {"budget_tokens": {"type": "integer", "minimum": 1024}}, "budget_tokens"),
            tagged("disabled", {}),
            tagged("adaptive", {}),
        ]
    }
    prompt = {
        "model": {"type": "string", "minLength": 1, "examples": ["claude-sonnet-4-5"]},
        "messages": array(ref("MessageParam"), min_items=1),
        "system": {"oneOf": [STRING, array(ref("TextBlockParam"), min_items=1)]},
        "tools": array(ref("ToolParam")),
        "tool_choice": ref("ToolChoiceParam"),
        "thinking": ref("ThinkingConfigParam"),
    }
    create = object_schema(
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
            "stop_sequences": array(STRING),
            "metadata": object_schema({"user_id": {"type": ["string", "null"]}}),
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
        "ContentBlockParam": {"oneOf": [ref(name) for name in blocks]},
        "MessageParam": message,
        "ToolParam": tool,
        "ToolChoiceParam": tool_choice,
        "ThinkingConfigParam": thinking,
        "MessagesRequest": create,
        "CountTokensRequest": object_schema(prompt, "model", "messages"),
    }


def _chat_message_schemas() -> dict[str, Any]:
    text_part = object_schema({"type": {"const": "text"}, "text": STRING}, "type", "text")
    image_part = object_schema(
        {
            "type": {"const": "image_url"},
            "image_url": object_schema(
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
    text_parts = array(ref("ChatTextPart"))
    texts = {"oneOf": [STRING, text_parts]}
    name = {"name": STRING}
    call = object_schema(
        {
            "id": TEXT,
            "type": {"const": "function"},
            "function": object_schema(
                {
                    "name": TEXT,
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
                object_schema(
                    {"role": {"enum": ["system", "developer"]}, "content": texts, **name}, "role", "content"
                ),
                object_schema(
                    {
                        "role": {"const": "user"},
                        "content": {
                            "oneOf": [
                                STRING,
                                array({"oneOf": [ref("ChatTextPart"), ref("ChatImagePart")]}),
                            ]
                        },
                        **name,
                    },
                    "role",
                    "content",
                ),
                object_schema(
                    {
                        "role": {"const": "assistant"},
                        "content": {"oneOf": [STRING, text_parts, {"type": "null"}]},
                        "refusal": {"type": ["string", "null"]},
                        "tool_calls": array(call),
                        **name,
                    },
                    "role",
                ),
                object_schema(
                    {"role": {"const": "tool"}, "tool_call_id": TEXT, "content": texts},
                    "role",
                    "tool_call_id",
                ),
            ]
        },
    }


def _chat_request_schemas() -> dict[str, Any]:
    function = object_schema(
        {
            "name": {"type": "string", "pattern": TOOL_NAME},
            "description": STRING,
            "parameters": object_schema({"type": {"const": "object"}}, closed=False),
            "strict": {"type": "boolean"},
        },
        "name",
    )
    tool_choice = {
        "oneOf": [
            {"enum": ["none", "auto", "required"]},
            object_schema(
                {"type": {"const": "function"}, "function": object_schema({"name": TEXT}, "name")},
                "type",
                "function",
            ),
        ]
    }
    json_schema = object_schema(
        {
            "name": {"type": "string", "pattern": TOOL_NAME},
            "description": STRING,
            "schema": object_schema({"type": {"const": "object"}}, closed=False),
            "strict": {"type": "boolean"},
        },
        "name",
    )
    response_format = {
        "oneOf": [
            tagged("text", {}),
            tagged("json_object", {}),
            tagged("json_schema", {"json_schema": json_schema}, "json_schema"),
        ]
    }
    positive = {"type": "integer", "minimum": 1}
    request = object_schema(
        {
            "model": {"type": "string", "minLength": 1, "examples": ["claude-sonnet-4-5"]},
            "messages": array(ref("ChatMessage"), min_items=1),
            "tools": array(
                object_schema({"type": {"const": "function"}, "function": function}, "type", "function")
            ),
            "tool_choice": tool_choice,
            "parallel_tool_calls": {"type": "boolean"},
            "response_format": response_format,
            "stream": {"type": "boolean"},
            "stream_options": object_schema({"include_usage": {"type": "boolean"}}),
            "max_tokens": positive,
            "max_completion_tokens": positive,
            "temperature": {**_number(2), "description": "Values above 1 are sent to Claude as 1."},
            "top_p": _number(1),
            "stop": {"oneOf": [STRING, array(STRING)]},
            "n": {"const": 1},
            "user": STRING,
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
        [(name, "validation", TypeAdapter(kind)) for name, kind in kinds], ref_template=REFS + "{model}"
    )
    schemas: dict[str, Any] = {**found["$defs"], "StreamEvent": top["StreamEvent", "validation"]}
    schemas["AnthropicServerSentEvent"] = object_schema(
        {
            "event": {"type": "string", "description": "The data's ``type``."},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": ref("StreamEvent"),
            },
        },
        "event",
        "data",
        closed=False,
    )
    canonical: dict[str, Any] = any_of(schemas)
    return canonical


def _openai_answer_schemas() -> dict[str, Any]:
    """Chat completions, their stream chunks and OpenAI's error envelope."""
    error = object_schema(
        {
            "error": object_schema(
                {
                    "message": STRING,
                    "type": STRING,
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
    call = object_schema(
        {
            "id": STRING,
            "type": {"const": "function"},
            "function": object_schema(
                {"name": STRING, "arguments": STRING}, "name", "arguments", closed=False
            ),
        },
        "id",
        "type",
        "function",
        closed=False,
    )
    finish_reason = {"enum": sorted(FINISH_REASONS)}
    message = object_schema(
        {"role": {"const": "assistant"}, "content": {"type": ["string", "null"]}, "tool_calls": array(call)},
        "role",
        "content",
        closed=False,
    )
    choice = object_schema(
        {"index": {"type": "integer"}, "message": message, "finish_reason": finish_reason},
        "index",
        "message",
        "finish_reason",
        closed=False,
    )
    delta = object_schema(
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
    usage = object_schema({**counts, "total_tokens": {"type": "integer"}}, *counts, closed=False)
    envelope = {"id": STRING, "created": {"type": "integer"}, "model": STRING, "usage": usage}
    required = ("id", "object", "created", "model", "choices")
    completion = object_schema(
        {**envelope, "object": {"const": "chat.completion"}, "choices": array(choice, min_items=1)},
        *required,
        closed=False,
    )
    # The last chunk may carry only usage, with ``choices: []``.
    chunk = object_schema(
        {**envelope, "object": {"const": "chat.completion.chunk"}, "choices": array(delta)},
        *required,
        closed=False,
    )
    chunk_data = {"anyOf": [ref("ChatCompletionChunk"), ref("OpenAIErrorResponse")]}
    event = object_schema(
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
    model = object_schema(
        {
            "id": STRING,
            "type": {"const": "model"},
            "display_name": STRING,
            "created_at": {"type": "string", "format": "date-time"},
            "object": {"const": "model"},
            "created": {"type": "integer"},
            "owned_by": STRING,
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
    models = object_schema(
        {
            "object": {"const": "list"},
            "data": array(ref("ModelInfo")),
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
        "Status": object_schema({"status": STRING}, "status", closed=False),
    }


# Which envelope an answer off the two model surfaces carries follows the caller's dialect.
_EITHER_ERROR = {"anyOf": [ref("ErrorResponse"), ref("OpenAIErrorResponse")]}

_ANTHROPIC_HEADERS = [
    {"name": "anthropic-version", "in": "header", "schema": STRING, "example": "2023-06-01"},
    {"name": "anthropic-beta", "in": "header", "schema": STRING, "description": "Comma-separated betas."},
]


def _paths() -> dict[str, Any]:
    anthropic_errors = error_responses("ErrorResponse", "an Anthropic error envelope")
    messages = post(
        "Create a message (Anthropic Messages API); `stream: true` answers with server-sent events.",
        "MessagesRequest",
        {**json_content(ref("Message")), **sse("AnthropicServerSentEvent")},
        anthropic_errors,
    )
    count = post(
        "Count a request's input tokens (an estimate, marked `x-token-count-estimate`, when the "
        "upstream cannot count).",
        "CountTokensRequest",
        json_content(ref("MessageTokensCount")),
        anthropic_errors,
    )
    for operation in (messages["post"], count["post"]):
        operation["parameters"] = _ANTHROPIC_HEADERS
    chat = post(
        "Create a chat completion (OpenAI Chat Completions API), answered by Claude.",
        "ChatCompletionRequest",
        {**json_content(ref("ChatCompletion")), **sse("ChatServerSentEvent")},
        error_responses("OpenAIErrorResponse", "an OpenAI error envelope"),
    )
    either = {
        "4XX": {
            "description": "Anthropic's envelope for callers sending `anthropic-version` or `x-api-key`, "
            "else OpenAI's.",
            "content": json_content(_EITHER_ERROR),
        }
    }
    paging = [
        {"name": "after_id", "in": "query", "schema": STRING},
        {"name": "before_id", "in": "query", "schema": STRING},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    ]
    model_id = [{"name": "model_id", "in": "path", "required": True, "schema": TEXT}]
    open_access: dict[str, Any] = {"security": []}
    status = {"description": "The status.", "content": json_content(ref("Status"))}
    return {
        "/v1/messages": messages,
        "/v1/messages/count_tokens": count,
        "/v1/chat/completions": chat,
        "/v1/models": get(
            "List the models callers can name.",
            {"200": {"description": "One page.", "content": json_content(ref("ModelList"))}, **either},
            parameters=paging,
        ),
        "/v1/models/{model_id}": get(
            "Describe one model (an alias gives its dated entry).",
            {"200": {"description": "The model.", "content": json_content(ref("ModelInfo"))}, **either},
            parameters=model_id,
        ),
        "/health": get("Liveness: the process answers.", {"200": status}, **open_access),
        "/ready": get(
            "Readiness: 503 while starting, or while shared counters are down under `fail_closed`.",
            {"200": status, "503": status},
            **open_access,
        ),
        "/metrics": get(
            "Prometheus metrics.",
            {
                "200": {
                    "description": "Text exposition format.",
                    "content": {"text/plain": {"schema": STRING}},
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
        **responses.openapi_schemas(),
        **jobs.openapi_schemas(),
        **batches.openapi_schemas(),
        **retrieval.openapi_schemas(),
        **usage.openapi_schemas(),
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
            **responses.openapi_paths(),
            **jobs.openapi_paths(),
            **batches.openapi_paths(),
            **retrieval.embeddings_paths(),
            **retrieval.collections_paths(),
            **usage.openapi_paths(),
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
