"""The OpenAPI description of ``/v1/embeddings`` and ``/v1/collections`` (merged into ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from claudegate.retrieval._embeddings_api import MAX_INPUTS

__all__ = ["collections_paths", "embeddings_paths", "openapi_schemas"]

COLLECTIONS = "/v1/collections"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


_ERRORS = {
    "4XX": {
        "description": "Refused, in OpenAI's error envelope (`param` names the field).",
        "content": {"application/json": {"schema": _ref("OpenAIErrorResponse")}},
    }
}


def openapi_schemas() -> dict[str, Any]:
    """The ``components.schemas`` entries of the retrieval routes."""
    text = {"type": "string", "minLength": 1}
    embeddings_request = {
        "type": "object",
        "properties": {
            "model": {"type": "string", "description": "`local` (in process, no network) or a route."},
            "input": {
                "anyOf": [text, {"type": "array", "items": text, "minItems": 1, "maxItems": MAX_INPUTS}]
            },
            "encoding_format": {"enum": ["float", "base64"], "default": "float"},
            "dimensions": {"type": "integer", "minimum": 1},
            "user": {"type": "string"},
        },
        "required": ["model", "input"],
    }
    embedding = {
        "type": "object",
        "properties": {
            "object": {"const": "embedding"},
            "index": {"type": "integer"},
            "embedding": {"anyOf": [{"type": "array", "items": {"type": "number"}}, {"type": "string"}]},
        },
        "required": ["object", "index", "embedding"],
    }
    embeddings = {
        "type": "object",
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": _ref("Embedding")},
            "model": {"type": "string"},
            "usage": {
                "type": "object",
                "properties": {"prompt_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}},
            },
        },
        "required": ["object", "data", "model", "usage"],
    }
    metadata = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}}
    collection_request = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
            "embedding_model": text,
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    collection = {
        "type": "object",
        "properties": {
            "object": {"const": "collection"},
            "name": {"type": "string"},
            "embedding_model": {"type": "string"},
            "dimensions": {"type": ["integer", "null"]},
            "documents": {"type": "integer"},
            "chunks": {"type": "integer"},
            "created_at": {"type": "integer"},
        },
        "required": ["object", "name", "embedding_model", "documents", "chunks"],
    }
    collections = {
        "type": "object",
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref("Collection")}},
        "required": ["object", "data"],
    }
    document = {
        "type": "object",
        "properties": {"id": text, "text": text, "metadata": metadata},
        "required": ["id", "text"],
    }
    documents = {
        "type": "object",
        "properties": {"documents": {"type": "array", "items": _ref("CollectionDocument"), "minItems": 1}},
        "required": ["documents"],
        "additionalProperties": False,
    }
    indexed = {
        "type": "object",
        "properties": {"documents": {"type": "integer"}, "chunks": {"type": "integer"}},
        "required": ["documents", "chunks"],
    }
    search = {
        "type": "object",
        "properties": {
            "query": text,
            "vector": {"type": "array", "items": {"type": "number"}, "minItems": 1},
            "top_k": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5},
            "filter": {
                "type": "object",
                "description": "Metadata that must match: a value, or a list of values any of which.",
            },
            "min_score": {"type": "number"},
        },
    }
    hit = {
        "type": "object",
        "properties": {
            "document_id": {"type": "string"},
            "chunk_id": {"type": "string"},
            "text": {"type": "string"},
            "score": {"type": "number"},
            "metadata": {"type": "object"},
        },
        "required": ["document_id", "chunk_id", "text", "score", "metadata"],
    }
    results = {
        "type": "object",
        "properties": {"results": {"type": "array", "items": _ref("SearchHit")}},
        "required": ["results"],
    }
    return {
        "EmbeddingsRequest": embeddings_request,
        "Embedding": embedding,
        "EmbeddingsResponse": embeddings,
        "CollectionRequest": collection_request,
        "Collection": collection,
        "CollectionList": collections,
        "CollectionDocument": document,
        "CollectionDocuments": documents,
        "IndexedDocuments": indexed,
        "SearchRequest": search,
        "SearchHit": hit,
        "SearchResults": results,
    }


def embeddings_paths() -> dict[str, Any]:
    """The ``paths`` entry of ``/v1/embeddings``."""
    return {
        "/v1/embeddings": {
            "post": {
                "summary": "Embeddings (OpenAI's shape), by the local model or an OpenAI-compatible route.",
                "requestBody": _body("EmbeddingsRequest"),
                "responses": {"200": _answer("The embeddings.", "EmbeddingsResponse"), **_ERRORS},
            }
        }
    }


def collections_paths() -> dict[str, Any]:
    """The ``paths`` entries of ``/v1/collections``."""
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    document_id = {"name": "document_id", "in": "path", "required": True, "schema": {"type": "string"}}
    deleted = {"description": "Deleted.", "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        COLLECTIONS: {
            "post": {
                "summary": "Create a collection of documents searched by vector.",
                "requestBody": _body("CollectionRequest"),
                "responses": {"200": _answer("The collection.", "Collection"), **_ERRORS},
            },
            "get": {
                "summary": "Every collection.",
                "responses": {"200": _answer("The collections.", "CollectionList"), **_ERRORS},
            },
        },
        COLLECTIONS + "/{name}": {
            "get": {
                "summary": "One collection.",
                "parameters": [name],
                "responses": {"200": _answer("The collection.", "Collection"), **_ERRORS},
            },
            "delete": {
                "summary": "Delete a collection and its documents.",
                "parameters": [name],
                "responses": {"200": deleted, **_ERRORS},
            },
        },
        COLLECTIONS + "/{name}/documents": {
            "post": {
                "summary": "Add or replace documents (by id): chunked, embedded and stored.",
                "parameters": [name],
                "requestBody": _body("CollectionDocuments"),
                "responses": {"200": _answer("What was indexed.", "IndexedDocuments"), **_ERRORS},
            }
        },
        COLLECTIONS + "/{name}/documents/{document_id}": {
            "delete": {
                "summary": "Delete one document.",
                "parameters": [name, document_id],
                "responses": {"200": deleted, **_ERRORS},
            }
        },
        COLLECTIONS + "/{name}/search": {
            "post": {
                "summary": "The chunks nearest a query text or vector, best first.",
                "parameters": [name],
                "requestBody": _body("SearchRequest"),
                "responses": {"200": _answer("The results.", "SearchResults"), **_ERRORS},
            }
        },
    }
