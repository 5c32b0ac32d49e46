"""The OpenAPI description of ``/v1/jobs`` (merged into ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from claudegate.gateway.jobs import PRIORITIES

__all__ = ["openapi_paths", "openapi_schemas"]

PREFIX = "/v1/jobs"
_DIALECTS = ("anthropic", "openai")


def _schema_ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _bounded(kind: str, low: int, high: int) -> dict[str, Any]:
    return {"type": kind, "minimum": low, "maximum": high}


def openapi_schemas() -> dict[str, Any]:
    """The ``components.schemas`` entries of ``/v1/jobs`` (for ``/openapi.json``)."""
    text = {"type": "string"}
    time = {"type": ["string", "null"], "format": "date-time"}
    submit = {
        "type": "object",
        "properties": {
            "request": {
                "type": "object",
                "description": "An Anthropic Messages request, or a Chat Completions request when "
                "`dialect` is `openai` (not streamed).",
            },
            "dialect": {"enum": list(_DIALECTS), "default": "anthropic"},
            "webhook": {
                "type": "object",
                "properties": {"url": {"type": "string", "format": "uri"}},
                "required": ["url"],
                "additionalProperties": False,
            },
            "metadata": {"type": "object"},
            "priority": {"enum": list(PRIORITIES), "default": "medium"},
        },
        "required": ["request"],
        "additionalProperties": False,
        # The request's shape follows the dialect (JSON Schema 2020-12, as OpenAPI 3.1 allows).
        "if": {"properties": {"dialect": {"const": "openai"}}, "required": ["dialect"]},
        "then": {"properties": {"request": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
        "else": {"properties": {"request": {"$ref": "#/components/schemas/MessagesRequest"}}},
    }
    job = {
        "type": "object",
        "properties": {
            "id": text,
            "type": {"const": "job"},
            "status": {"enum": ["queued", "running", "succeeded", "failed", "canceled"]},
            "dialect": {"enum": list(_DIALECTS)},
            "model": {"type": ["string", "null"]},
            "priority": {"enum": list(PRIORITIES)},
            "attempts": {"type": "integer"},
            "created_at": time,
            "started_at": time,
            "finished_at": time,
            "metadata": {"type": "object"},
            "status_url": text,
            "result": {"type": "object", "description": "The answer, in the job's dialect."},
            "usage": {"type": "object"},
            "cost": {"type": "number"},
            "error": {"type": "object", "description": "The error envelope, in the job's dialect."},
            "error_status": {"type": "integer"},
        },
        "required": ["id", "type", "status", "attempts", "created_at"],
    }
    page = {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": _schema_ref("Job")},
            "has_more": {"type": "boolean"},
            "first_id": {"type": ["string", "null"]},
            "last_id": {"type": ["string", "null"]},
        },
        "required": ["data", "has_more"],
    }
    deliveries = {
        "type": "object",
        "properties": {"data": {"type": "array", "items": {"type": "object"}}},
        "required": ["data"],
    }
    return {"JobRequest": submit, "Job": job, "JobList": page, "WebhookDeliveries": deliveries}


def openapi_paths() -> dict[str, Any]:
    """The ``paths`` entries of ``/v1/jobs`` (for ``/openapi.json``)."""
    errors = {
        "4XX": {
            "description": "Refused: OpenAI's envelope for an `openai` job or a caller without "
            "`anthropic-version` / `x-api-key`, else Anthropic's.",
            "content": {
                "application/json": {
                    "schema": {"anyOf": [_schema_ref("ErrorResponse"), _schema_ref("OpenAIErrorResponse")]}
                }
            },
        }
    }

    def answer(description: str, schema: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": _schema_ref(schema)}}}

    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        PREFIX: {
            "post": {
                "summary": "Submit a job: 202 once it is recorded, with its `status_url` (and `Location`).",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _schema_ref("JobRequest")}},
                },
                "responses": {"202": answer("The job, queued.", "Job"), **errors},
            },
            "get": {
                "summary": "The caller's jobs, newest first.",
                "parameters": [
                    {"name": "after_id", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {"200": answer("One page.", "JobList"), **errors},
            },
        },
        PREFIX + "/{job_id}": {
            "get": {
                "summary": "A job of the caller (404 for another key's); `wait` holds the answer "
                "until the job ends, up to that many seconds.",
                "parameters": [
                    job_id,
                    {
                        "name": "wait",
                        "in": "query",
                        "schema": {"type": "number", "minimum": 0, "maximum": 60},
                    },
                ],
                "responses": {"200": answer("The job.", "Job"), **errors},
            },
            "delete": {
                "summary": "Cancel a job (a running one's upstream call is cancelled).",
                "parameters": [job_id],
                "responses": {"200": answer("The job, as it is now.", "Job"), **errors},
            },
        },
        PREFIX + "/{job_id}/deliveries": {
            "get": {
                "summary": "The job's webhook deliveries and every attempt.",
                "parameters": [job_id],
                "responses": {"200": answer("The deliveries.", "WebhookDeliveries"), **errors},
            },
            "post": {
                "summary": "Deliver the job's webhooks again (same `webhook-id`, a fresh schedule).",
                "parameters": [job_id],
                "responses": {"202": answer("The deliveries, due now.", "WebhookDeliveries"), **errors},
            },
        },
    }
