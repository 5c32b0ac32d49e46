"""``/v1/collections``: create, list, show and delete collections; add and delete documents;
search. Errors use OpenAI's envelope, naming the field.

    POST   /v1/collections                      {"name", "embedding_model"?}
    GET    /v1/collections
    GET    /v1/collections/{name}
    DELETE /v1/collections/{name}
    POST   /v1/collections/{name}/documents     {"documents": [{"id", "text", "metadata"?}]}
    DELETE /v1/collections/{name}/documents/{id}
    POST   /v1/collections/{name}/search        {"query" | "vector", "top_k"?, "filter"?, "min_score"?}
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore, GatewayError, Outcome, RetrievalService, parse_json_body
from claudegate.retrieval import Retriever
from claudegate.retrieval._retriever import documents_of
from claudegate.retrieval._store import RetrievalError, UnknownDocument

__all__ = ["PREFIX", "CollectionsSurface"]

PREFIX = "/v1/collections"
MAX_DOCUMENTS = 1000
"""Documents one request may add."""

Route = Callable[[GatewayCore, Exchange], Awaitable[Outcome | None]]
Work = Callable[[Retriever, list[str], Exchange, int], Awaitable[Any]]
_ERROR_TYPES = {404: "not_found_error", 409: "invalid_request_error"}


class CollectionsSurface:
    def __init__(self, service: RetrievalService) -> None:
        self.service = service

    def route(self, method: str, path: str) -> Route | None:
        """The handler of ``method path`` under ``/v1/collections`` (None: no such route)."""
        if path == PREFIX:
            work = {"POST": _create, "GET": _list}.get(method)
            return self._handler(work, []) if work else None
        rest = path[len(PREFIX) + 1 :].split("/", 2)
        if not rest[0]:
            return None
        if len(rest) == 1:
            work = {"GET": _show, "DELETE": _drop}.get(method)
        elif rest[1:] == ["documents"] and method == "POST":
            work = _add
        elif rest[1:] == ["search"] and method == "POST":
            work = _search
        elif len(rest) == 3 and rest[1] == "documents" and rest[2] and method == "DELETE":
            work = _delete_document
        else:
            return None
        return self._handler(work, rest) if work else None

    def _handler(self, work: Work, parts: list[str]) -> Route:
        async def handle(core: GatewayCore, exchange: Exchange) -> Outcome:
            principal = await core.principal(exchange.credential())
            retriever = await self.service.retriever(principal, exchange.forwarded_headers())
            try:
                answer = await work(retriever, parts, exchange, core.config.gateway.max_request_bytes)
            except RetrievalError as exc:
                kind = _ERROR_TYPES.get(exc.status, "invalid_request_error")
                raise GatewayError(exc.status, kind, str(exc), exc.param) from None
            await exchange.send_bytes(200, orjson.dumps(answer))
            return Outcome()

        return handle


async def _body(exchange: Exchange, limit: int) -> dict[str, Any]:
    return parse_json_body(await exchange.body(limit))


async def _create(retriever: Retriever, parts: list[str], exchange: Exchange, limit: int) -> dict[str, Any]:
    body = await _body(exchange, limit)
    unknown = set(body) - {"name", "embedding_model"}
    if unknown:
        name = sorted(unknown)[0]
        raise RetrievalError(f"{name}: unknown field", name)
    info = await retriever.create_collection(body.get("name"), body.get("embedding_model"))  # type: ignore[arg-type]
    return info.as_dict()


async def _list(retriever: Retriever, parts: list[str], exchange: Exchange, limit: int) -> dict[str, Any]:
    return {"object": "list", "data": [info.as_dict() for info in await retriever.store.collections()]}


async def _show(retriever: Retriever, parts: list[str], exchange: Exchange, limit: int) -> dict[str, Any]:
    return (await retriever.store.collection(parts[0])).as_dict()


async def _drop(retriever: Retriever, parts: list[str], exchange: Exchange, limit: int) -> dict[str, Any]:
    await retriever.store.drop_collection(parts[0])
    return {"object": "collection.deleted", "name": parts[0], "deleted": True}


async def _add(retriever: Retriever, parts: list[str], exchange: Exchange, limit: int) -> dict[str, Any]:
    body = await _body(exchange, limit)
    documents = documents_of(body.get("documents"))
    if len(documents) > MAX_DOCUMENTS:
        raise RetrievalError(
            f"documents: {len(documents)} documents, more than the {MAX_DOCUMENTS} one request may add",
            "documents",
        )
    report = await retriever.add_documents(parts[0], documents)
    return {"object": "collection.documents", "documents": report.documents, "chunks": report.chunks}


async def _delete_document(
    retriever: Retriever, parts: list[str], exchange: Exchange, limit: int
) -> dict[str, Any]:
    if not await retriever.store.delete_document(parts[0], parts[2]):
        raise UnknownDocument(parts[0], parts[2])
    return {"object": "document.deleted", "id": parts[2], "deleted": True}


async def _search(retriever: Retriever, parts: list[str], exchange: Exchange, limit: int) -> dict[str, Any]:
    body = await _body(exchange, limit)
    unknown = set(body) - {"query", "vector", "top_k", "filter", "min_score"}
    if unknown:
        name = sorted(unknown)[0]
        raise RetrievalError(f"{name}: unknown field", name)
    hits = await retriever.search(
        parts[0],
        body.get("query"),
        vector=body.get("vector"),
        top_k=body.get("top_k", 5),
        filter=body.get("filter"),
        min_score=body.get("min_score"),
    )
    return {"object": "list", "results": [hit.as_dict() for hit in hits]}
