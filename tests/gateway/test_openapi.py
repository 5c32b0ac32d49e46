"""``GET /openapi.json``: a valid OpenAPI 3.1 document that covers the gateway's public routes."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import orjson
import requests
import schemathesis
from openapi_spec_validator import OpenAPIV31SpecValidator

from claudegate.gateway._app import _ROUTES
from tests.gateway.conftest import Live

# Routes served but left out of the document, and why.
UNDOCUMENTED = {
    "/": "a banner for people and probes",
    "/chat/completions": "an alias of /v1/chat/completions for clients whose base URL lacks /v1",
    "/models": "an alias of /v1/models, likewise",
    "/health/deployments": "operators' diagnostics, shaped by the resilience internals",
    "/openapi.json": "the document itself",
    "/docs/api": "the document rendered as a page",
    "/responses": "an alias of /v1/responses for clients whose base URL lacks /v1",
    "/embeddings": "an alias of /v1/embeddings, likewise",
}
# Served by prefix, not by the route table.
PREFIX_ROUTED = {"/v1/models/{model_id}", "/v1/responses/{response_id}"}
PREFIX_ROUTED |= {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/deliveries"}  # the jobs surface's own
PREFIX_ROUTED |= {  # the batch surfaces' own
    "/v1/messages/batches",
    "/v1/messages/batches/{message_batch_id}",
    "/v1/messages/batches/{message_batch_id}/cancel",
    "/v1/messages/batches/{message_batch_id}/results",
    "/v1/files",
    "/v1/files/{file_id}",
    "/v1/files/{file_id}/content",
    "/v1/batches",
    "/v1/batches/{batch_id}",
    "/v1/batches/{batch_id}/cancel",
    "/v1/collections",
    "/v1/collections/{name}",
    "/v1/collections/{name}/documents",
    "/v1/collections/{name}/documents/{document_id}",
    "/v1/collections/{name}/search",
}
PREFIX_ROUTED |= {"/v1/events", "/v1/events/{event_id}", "/v1/events/dead", "/v1/events/dead/replay"}


def _document(gateway: Live) -> dict[str, Any]:
    answer = requests.get(f"{gateway.base_url}/openapi.json", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = orjson.loads(answer.content)
    return document


def test_the_document_is_valid_openapi_3_1(gateway: Live) -> None:
    assert _document(gateway)["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_url(f"{gateway.base_url}/openapi.json")
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    assert schema["/v1/models/{model_id}"]["GET"].label == "GET /v1/models/{model_id}"


def test_the_document_passes_the_openapi_3_1_validator(gateway: Live) -> None:
    """openapi-spec-validator: the specification's own schema, and rules it states beyond it (a
    path's parameters declared by its operations, operation ids unique...)."""
    document = _document(gateway)
    errors = [str(error).splitlines()[0] for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_every_component_is_a_valid_json_schema(gateway: Live) -> None:
    components = _document(gateway)["components"]
    for name, schema in components["schemas"].items():
        try:
            jsonschema_rs.meta.validate(schema)  # draft 2020-12, OpenAPI 3.1's dialect
        except jsonschema_rs.ValidationError as exc:
            raise AssertionError(f"components.schemas.{name}: {exc.message}") from None
    assert components["securitySchemes"] == {
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        "bearer": {"type": "http", "scheme": "bearer"},
    }


def test_every_public_route_is_documented_and_every_documented_one_served(gateway: Live) -> None:
    paths = _document(gateway)["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() for method in item}
    public = {
        (method, path)
        for method, path in _ROUTES
        if method in ("GET", "POST") and path not in UNDOCUMENTED  # HEAD answers as GET does
    }
    assert public - documented == set(), "routes missing from /openapi.json"
    prefix_routed = {(method.upper(), path) for path in PREFIX_ROUTED for method in paths[path]}
    assert documented - public == prefix_routed, "documented but not routed"


def test_request_fields_are_documented(gateway: Live) -> None:
    schemas = _document(gateway)["components"]["schemas"]
    messages = schemas["MessagesRequest"]["properties"].keys()
    assert messages >= {
        "model",
        "max_tokens",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "metadata",
        "thinking",
    }
    blocks = {
        schemas[ref["$ref"].rpartition("/")[2]]["properties"]["type"]["const"]
        for ref in schemas["ContentBlockParam"]["oneOf"]
    }
    assert blocks == {"text", "image", "tool_use", "tool_result"}
    chat = schemas["ChatCompletionRequest"]["properties"]
    assert chat.keys() >= {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "response_format",
    }
    roles: set[str] = set()
    for message in schemas["ChatMessage"]["oneOf"]:
        role = message["properties"]["role"]
        roles.update(role.get("enum", [role.get("const")]))
    assert roles == {"system", "developer", "user", "assistant", "tool"}
