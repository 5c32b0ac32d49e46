"""The OpenAPI description of the batch APIs (merged into ``/openapi.json``): Message Batches
(``/v1/messages/batches``) and OpenAI's files and batches (``/v1/files``, ``/v1/batches``)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_paths", "openapi_schemas"]

_TEXT = {"type": "string"}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_UNIX = {"type": ["integer", "null"]}
_COUNT = {"type": "integer", "minimum": 0}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


def _list_of(item: str) -> dict[str, Any]:
    return _object(
        {
            "data": {"type": "array", "items": _ref(item)},
            "has_more": {"type": "boolean"},
            "first_id": {"type": ["string", "null"]},
            "last_id": {"type": ["string", "null"]},
        },
        "data",
        "has_more",
    )


def openapi_schemas() -> dict[str, Any]:
    """The ``components.schemas`` entries of the batch APIs."""
    webhook = {
        "type": "object",
        "properties": {"url": {"type": "string", "format": "uri"}},
        "required": ["url"],
        "additionalProperties": False,
        "description": "Called (signed, Standard Webhooks) once the batch has ended.",
    }
    create = {
        "type": "object",
        "properties": {
            "requests": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "custom_id": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
                        "params": _ref("MessagesRequest"),
                    },
                    "required": ["custom_id", "params"],
                    "additionalProperties": False,
                },
            },
            "webhook": webhook,
        },
        "required": ["requests"],
        "additionalProperties": False,
    }
    counts = {name: _COUNT for name in ("processing", "succeeded", "errored", "canceled", "expired")}
    message_batch = _object(
        {
            "id": _TEXT,
            "type": {"const": "message_batch"},
            "processing_status": {"enum": ["in_progress", "canceling", "ended"]},
            "request_counts": _object(counts, *counts),
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": "string", "format": "date-time"},
            "ended_at": _TIME,
            "cancel_initiated_at": _TIME,
            "archived_at": _TIME,
            "results_url": {"type": ["string", "null"]},
        },
        "id",
        "type",
        "processing_status",
        "request_counts",
        "created_at",
        "expires_at",
    )
    deleted = _object({"id": _TEXT, "type": {"const": "message_batch_deleted"}}, "id", "type")
    file = _object(
        {
            "id": _TEXT,
            "object": {"const": "file"},
            "bytes": _COUNT,
            "created_at": {"type": "integer"},
            "expires_at": _UNIX,
            "filename": _TEXT,
            "purpose": {"enum": ["batch", "batch_output"]},
            "status": _TEXT,
            "status_details": {"type": ["string", "null"]},
        },
        "id",
        "object",
        "bytes",
        "created_at",
        "filename",
        "purpose",
    )
    upload = _object(
        {
            "file": {"type": "string", "format": "binary", "description": "JSONL: one request per line."},
            "purpose": {"const": "batch"},
            "expires_after[anchor]": {"const": "created_at"},
            "expires_after[seconds]": {"type": "integer", "minimum": 3600, "maximum": 2592000},
        },
        "file",
        "purpose",
    )
    file_deleted = _object(
        {"id": _TEXT, "object": {"const": "file"}, "deleted": {"type": "boolean"}}, "id", "deleted"
    )
    batch_create = {
        "type": "object",
        "properties": {
            "input_file_id": _TEXT,
            "endpoint": {"const": "/v1/chat/completions"},
            "completion_window": {"const": "24h"},
            "metadata": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
            "webhook": webhook,
        },
        "required": ["input_file_id", "endpoint", "completion_window"],
    }
    statuses = [
        "validating",
        "failed",
        "in_progress",
        "finalizing",
        "completed",
        "expired",
        "cancelling",
        "cancelled",
    ]
    times = (
        "in_progress_at",
        "finalizing_at",
        "completed_at",
        "failed_at",
        "expired_at",
        "cancelling_at",
        "cancelled_at",
    )
    batch = _object(
        {
            "id": _TEXT,
            "object": {"const": "batch"},
            "endpoint": _TEXT,
            "input_file_id": _TEXT,
            "completion_window": _TEXT,
            "status": {"enum": statuses},
            "output_file_id": {"type": ["string", "null"]},
            "error_file_id": {"type": ["string", "null"]},
            "created_at": {"type": "integer"},
            "expires_at": _UNIX,
            **dict.fromkeys(times, _UNIX),
            "request_counts": _object({name: _COUNT for name in ("total", "completed", "failed")}),
            "errors": {"type": ["object", "null"]},
            "usage": {"type": ["object", "null"]},
            "metadata": {"type": ["object", "null"]},
            "model": {"type": ["string", "null"]},
        },
        "id",
        "object",
        "endpoint",
        "input_file_id",
        "completion_window",
        "status",
        "created_at",
    )
    return {
        "MessageBatchRequest": create,
        "MessageBatch": message_batch,
        "MessageBatchList": _list_of("MessageBatch"),
        "MessageBatchDeleted": deleted,
        "FileUpload": upload,
        "FileObject": file,
        "FileList": {
            **_list_of("FileObject"),
            "properties": {**_list_of("FileObject")["properties"], "object": {"const": "list"}},
        },
        "FileDeleted": file_deleted,
        "BatchRequest": batch_create,
        "Batch": batch,
        "BatchList": {
            **_list_of("Batch"),
            "properties": {**_list_of("Batch")["properties"], "object": {"const": "list"}},
        },
    }


def _answer(description: str, schema: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": _ref(schema)}}}


def _errors(envelope: str) -> dict[str, Any]:
    content = {"application/json": {"schema": _ref(envelope)}}
    return {
        "4XX": {"description": "Refused.", "content": content},
        "5XX": {"description": "An upstream failed.", "content": content},
    }


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _TEXT}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema}


def _json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def openapi_paths() -> dict[str, Any]:
    """The ``paths`` entries of the batch APIs."""
    anthropic, openai = _errors("ErrorResponse"), _errors("OpenAIErrorResponse")
    batch_id, message_batch_id, file_id = _id("batch_id"), _id("message_batch_id"), _id("file_id")
    jsonl = {
        "description": "One JSON line per request.",
        "content": {"application/x-jsonl": {"schema": _TEXT}},
    }
    octets = {"description": "The file's bytes.", "content": {"application/octet-stream": {"schema": _TEXT}}}
    anthropic_paging = [
        _query("after_id", _TEXT),
        _query("before_id", _TEXT),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
    ]
    message_batch = {"200": _answer("The batch.", "MessageBatch"), **anthropic}
    batch = {"200": _answer("The batch.", "Batch"), **openai}
    return {
        "/v1/messages/batches": {
            "post": {
                "summary": "Create a Message Batch: its requests run asynchronously, as the caller.",
                "requestBody": _json_body("MessageBatchRequest"),
                "responses": message_batch,
            },
            "get": {
                "summary": "The caller's Message Batches, newest first.",
                "parameters": anthropic_paging,
                "responses": {"200": _answer("One page.", "MessageBatchList"), **anthropic},
            },
        },
        "/v1/messages/batches/{message_batch_id}": {
            "get": {
                "summary": "A Message Batch.",
                "parameters": [message_batch_id],
                "responses": message_batch,
            },
            "delete": {
                "summary": "Delete an ended Message Batch.",
                "parameters": [message_batch_id],
                "responses": {"200": _answer("Deleted.", "MessageBatchDeleted"), **anthropic},
            },
        },
        "/v1/messages/batches/{message_batch_id}/cancel": {
            "post": {
                "summary": "Cancel a Message Batch.",
                "parameters": [message_batch_id],
                "responses": message_batch,
            }
        },
        "/v1/messages/batches/{message_batch_id}/results": {
            "get": {
                "summary": "An ended Message Batch's results, by `custom_id`.",
                "parameters": [message_batch_id],
                "responses": {"200": jsonl, **anthropic},
            }
        },
        "/v1/files": {
            "post": {
                "summary": "Upload a batch input file (JSONL).",
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": _ref("FileUpload")}},
                },
                "responses": {"200": _answer("The file.", "FileObject"), **openai},
            },
            "get": {
                "summary": "The caller's files.",
                "parameters": [
                    _query("after", _TEXT),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
                    _query("order", {"enum": ["asc", "desc"]}),
                    _query("purpose", _TEXT),
                ],
                "responses": {"200": _answer("One page.", "FileList"), **openai},
            },
        },
        "/v1/files/{file_id}": {
            "get": {
                "summary": "A file.",
                "parameters": [file_id],
                "responses": {"200": _answer("The file.", "FileObject"), **openai},
            },
            "delete": {
                "summary": "Delete a file.",
                "parameters": [file_id],
                "responses": {"200": _answer("Deleted.", "FileDeleted"), **openai},
            },
        },
        "/v1/files/{file_id}/content": {
            "get": {
                "summary": "A file's bytes.",
                "parameters": [file_id],
                "responses": {"200": octets, **openai},
            }
        },
        "/v1/batches": {
            "post": {
                "summary": "Run an uploaded file's requests as a batch.",
                "requestBody": _json_body("BatchRequest"),
                "responses": batch,
            },
            "get": {
                "summary": "The caller's batches, newest first.",
                "parameters": [
                    _query("after", _TEXT),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                ],
                "responses": {"200": _answer("One page.", "BatchList"), **openai},
            },
        },
        "/v1/batches/{batch_id}": {
            "get": {"summary": "A batch.", "parameters": [batch_id], "responses": batch}
        },
        "/v1/batches/{batch_id}/cancel": {
            "post": {"summary": "Cancel a batch.", "parameters": [batch_id], "responses": batch}
        },
    }
