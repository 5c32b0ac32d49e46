"""The OpenAPI description of ``GET /v1/usage`` and ``GET /admin/usage`` (merged into
``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from claudegate.gateway.surfaces.usage import ADMIN_USAGE_PATH, USAGE_PATH

__all__ = ["openapi_paths", "openapi_schemas"]

_GROUPS = ["key", "model", "deployment", "surface", "dialect", "status"]


def _schema_ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def openapi_schemas() -> dict[str, Any]:
    """The ``components.schemas`` entries of the usage API."""
    nullable_text = {"type": ["string", "null"]}
    group = {
        "type": "object",
        "description": "One group's totals. `start` is there with a `bucket`; each dimension "
        "grouped by is there under its name (`key_id` for `key`; `surface` for `dialect`).",
        "properties": {
            "start": {"type": "string", "format": "date-time", "description": "The bucket's first instant."},
            "key_id": {**nullable_text, "description": "A key id, `jwt:<subject>`, or null (no key)."},
            "model": {"type": "string"},
            "deployment": {"type": "string"},
            "surface": {"enum": ["anthropic", "openai"]},
            "status": {"type": "integer"},
            "requests": {"type": "integer"},
            "input_tokens": {"type": "integer"},
            "output_tokens": {"type": "integer"},
            "cache_creation_input_tokens": {"type": "integer"},
            "cache_read_input_tokens": {"type": "integer"},
            "cost_usd": {"type": "number"},
            "errors": {"type": "integer", "description": "Calls answered with a status of 400 or above."},
            "latency_ms_avg": {"type": "number"},
            "latency_ms_max": {"type": "number"},
        },
        "required": ["requests", "input_tokens", "output_tokens", "cost_usd", "errors"],
    }
    report = {
        "type": "object",
        "properties": {
            "object": {"const": "usage"},
            "group_by": {"type": "array", "items": {"type": "string"}},
            "bucket": {"enum": ["minute", "hour", "day", None]},
            "from": {"type": ["string", "null"], "format": "date-time"},
            "to": {"type": ["string", "null"], "format": "date-time"},
            "data": {"type": "array", "items": _schema_ref("UsageGroup")},
        },
        "required": ["object", "group_by", "bucket", "from", "to", "data"],
    }
    return {"UsageGroup": group, "UsageReport": report}


def _parameters() -> list[dict[str, Any]]:
    time = {
        "anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "string", "pattern": r"^-?\d{1,12}(\.\d{1,6})?$"},
        ]
    }
    return [
        {
            "name": "group_by",
            "in": "query",
            "description": "Dimensions, comma-separated or repeated.",
            "style": "form",
            "explode": False,
            "schema": {"type": "array", "items": {"enum": _GROUPS}},
        },
        {
            "name": "bucket",
            "in": "query",
            "description": "UTC time buckets. `minute` reads the ledger's rows: it needs `from` and "
            "`to` at most 24 hours apart.",
            "schema": {"enum": ["minute", "hour", "day"]},
        },
        {
            "name": "from",
            "in": "query",
            "description": "Start (inclusive): RFC 3339 with a zone, or unix seconds.",
            "schema": time,
        },
        {
            "name": "to",
            "in": "query",
            "description": "End (exclusive): RFC 3339 with a zone, or unix seconds.",
            "schema": time,
        },
    ]


def openapi_paths() -> dict[str, Any]:
    """The ``paths`` entries of the usage API."""
    errors = {
        "4XX": {
            "description": "Refused (a bad parameter is named): Anthropic's envelope for a caller "
            "sending `anthropic-version` or `x-api-key`, else OpenAI's.",
            "content": {
                "application/json": {
                    "schema": {"anyOf": [_schema_ref("ErrorResponse"), _schema_ref("OpenAIErrorResponse")]}
                }
            },
        }
    }
    answer = {
        "description": "Totals per group, ordered by bucket then by the grouped values.",
        "content": {"application/json": {"schema": _schema_ref("UsageReport")}},
    }
    key_id = {
        "name": "key_id",
        "in": "query",
        "description": "Only this key's (or `jwt:<subject>`'s) usage.",
        "schema": {"type": "string", "minLength": 1},
    }
    return {
        USAGE_PATH: {
            "get": {
                "summary": "The caller's own usage (an API key's or a JWT subject's), from the ledger.",
                "parameters": _parameters(),
                "responses": {"200": answer, **errors},
            }
        },
        ADMIN_USAGE_PATH: {
            "get": {
                "summary": "Every caller's usage (the admin key).",
                "security": [{"apiKey": []}, {"bearer": []}],
                "parameters": [*_parameters(), key_id],
                "responses": {"200": answer, **errors},
            }
        },
    }
