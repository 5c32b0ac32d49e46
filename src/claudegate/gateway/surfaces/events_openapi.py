"""The OpenAPI description of ``/v1/events`` (merged into ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from claudegate.gateway.events import MAX_EVENTS
from claudegate.gateway.jobs import PRIORITIES

__all__ = ["openapi_paths", "openapi_schemas"]

PREFIX = "/v1/events"
_STATUSES = ["queued", "running", "failed", "processed", "dead"]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def openapi_schemas() -> dict[str, Any]:
    """The ``components.schemas`` entries of ``/v1/events``."""
    text = {"type": "string", "minLength": 1, "maxLength": 200}
    time = {"type": ["string", "null"], "format": "date-time"}
    event = {
        "type": "object",
        "properties": {
            "type": text,
            "id": {**text, "description": "Idempotent per key (default: a fresh `ev_…` id)."},
            "payload": {"description": "Any JSON: data for the pipelines' prompt templates."},
            "priority": {"enum": list(PRIORITIES), "description": "Overrides the pipelines' priority."},
        },
        "required": ["type"],
        "additionalProperties": False,
    }
    batch = {
        "type": "object",
        "properties": {
            "events": {"type": "array", "items": _ref("Event"), "minItems": 1, "maxItems": MAX_EVENTS}
        },
        "required": ["events"],
        "additionalProperties": False,
    }
    accepted = {
        "type": "object",
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "pipelines": {"type": "array", "items": {"type": "string"}},
                        "duplicate": {"type": "boolean"},
                    },
                },
            }
        },
    }
    run = {
        "type": "object",
        "properties": {
            "run_id": {"type": "string"},
            "pipeline": {"type": "string"},
            "status": {"enum": _STATUSES},
            "priority": {"enum": list(PRIORITIES)},
            "attempts": {"type": "integer"},
            "started_at": time,
            "finished_at": time,
            "error": {"type": "object"},
        },
    }
    result = {
        "type": "object",
        "description": "The event a pipeline run emits.",
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "event_id": {"type": "string"},
            "event_type": {"type": "string"},
            "pipeline": {"type": "string"},
            "output": {"type": "string"},
            "message": {"type": "object"},
            "tool_calls": {"type": "array", "items": {"type": "object"}},
            "stop_reason": {"type": ["string", "null"]},
            "usage": {"type": "object"},
            "cost": {"type": "number"},
            "latency_ms": {"type": "number"},
        },
    }
    state = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "event"},
            "type": {"type": "string"},
            "status": {"enum": _STATUSES},
            "received_at": time,
            "runs": {"type": "array", "items": _ref("EventRun")},
            "results": {"type": "array", "items": _ref("EventResult")},
            "result": {"anyOf": [_ref("EventResult"), {"type": "null"}], "description": "With one pipeline."},
        },
    }
    dead_run = {
        "allOf": [_ref("EventRun")],
        "properties": {"event_id": {"type": "string"}, "event_type": {"type": "string"}},
    }
    dead = {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": dead_run},
            "has_more": {"type": "boolean"},
            "last_id": {"type": ["string", "null"]},
        },
    }
    return {
        "Event": event,
        "EventBatch": batch,
        "EventsAccepted": accepted,
        "EventRun": run,
        "EventResult": result,
        "EventState": state,
        "DeadEvents": dead,
    }


def openapi_paths() -> dict[str, Any]:
    """The ``paths`` entries of ``/v1/events``."""
    errors = {
        "4XX": {
            "description": "Refused: OpenAI's envelope for a caller without `anthropic-version` / "
            "`x-api-key`, else Anthropic's.",
            "content": {
                "application/json": {
                    "schema": {"anyOf": [_ref("ErrorResponse"), _ref("OpenAIErrorResponse")]}
                }
            },
        }
    }

    def answer(description: str, schema: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}

    body = {"anyOf": [_ref("Event"), _ref("EventBatch")]}
    return {
        PREFIX: {
            "post": {
                "summary": "Publish one event or a list: 202 once recorded, with each one's pipelines.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {"202": answer("The events, accepted.", "EventsAccepted"), **errors},
            }
        },
        PREFIX + "/{event_id}": {
            "get": {
                "summary": "An event of the caller: its status, runs and result events; `wait` holds the "
                "answer until every run ends, up to that many seconds.",
                "parameters": [
                    {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "wait",
                        "in": "query",
                        "schema": {"type": "number", "minimum": 0, "maximum": 60},
                    },
                ],
                "responses": {"200": answer("The event.", "EventState"), **errors},
            }
        },
        PREFIX + "/dead": {
            "get": {
                "summary": "The caller's dead runs (every attempt failed), newest first.",
                "parameters": [
                    {"name": "after_id", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {"200": answer("One page.", "DeadEvents"), **errors},
            }
        },
        PREFIX + "/dead/replay": {
            "post": {
                "summary": "Queue the caller's dead runs again (of `event_ids`, else all), each once.",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"event_ids": {"type": "array", "items": {"type": "string"}}},
                                "additionalProperties": False,
                            }
                        }
                    }
                },
                "responses": {"202": answer("The runs queued again.", "DeadEvents"), **errors},
            }
        },
    }
