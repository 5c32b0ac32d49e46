"""``/graphql`` as an ASGI callable: strawberry's ASGI view wired to the gateway.

HTTP requests (POST, GET; ``Accept: text/event-stream`` for GraphQL over SSE, distinct connections)
are authenticated by their ``x-api-key`` / ``Authorization: Bearer`` header before anything runs:
a refused key is answered with its status and a GraphQL error, no data. WebSocket connections speak
``graphql-transport-ws`` or ``graphql-ws``; their ``connection_init`` payload (``apiKey``, or the
handshake's header) is checked before any operation starts: refused, the connection is closed with
4403 (``graphql-transport-ws``) or answered ``connection_error`` (``graphql-ws``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
)
from strawberry.types.unset import UNSET, UnsetType

from claudegate.gateway._http import FORWARDED_HEADERS, Receive, Scope, Send
from claudegate.gateway.batches import BatchService
from claudegate.gateway.core import GatewayCore, GatewayError, RoomHub, presented_key
from claudegate.gateway.jobs import JobService
from claudegate.gateway.surfaces.graphql._context import PATH, GraphQLContext, Services, credential_of
from claudegate.gateway.surfaces.graphql._errors import gateway_extensions
from claudegate.gateway.surfaces.graphql._protection import document_hash
from claudegate.gateway.surfaces.graphql._schema import build_schema
from claudegate.gateway.surfaces.graphql._transport_ws import RelayingTransportWSHandler

__all__ = ["PATH", "GraphQLSurface"]

log = logging.getLogger("claudegate.gateway")


class _Refused(Exception):
    """An HTTP request answered before it runs: its status and GraphQL error."""

    def __init__(self, status: int, message: str, extensions: dict[str, Any]) -> None:
        self.status = status
        self.message = message
        self.extensions = extensions


def _forwarded(headers: Any) -> dict[str, str]:
    forwarded = {"anthropic-version": "2023-06-01"}
    for raw in FORWARDED_HEADERS:
        name = raw.decode()
        value = headers.get(name)
        if value is not None:
            forwarded[name] = value
    return forwarded


def _credential(scope: Scope) -> str | None:
    return presented_key({name.lower(): value for name, value in scope.get("headers", [])})


def _base_url(scope: Scope) -> str:
    """The gateway as the caller reached it (``http(s)://host``)."""
    host = next((value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"host"), "")
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    return f"{scheme}://{host}" if host else ""


class _View(GraphQL[GraphQLContext, None]):
    graphql_transport_ws_handler_class = RelayingTransportWSHandler

    def __init__(self, services: Services) -> None:
        settings = services.settings
        super().__init__(
            build_schema(settings),
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
            connection_init_wait_timeout=timedelta(
                seconds=services.core.config.gateway.websocket.auth_timeout
            ),
            max_subscriptions_per_connection=settings.max_subscriptions,
        )
        self.services = services

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        websocket = request.scope["type"] == "websocket"
        context = GraphQLContext(
            self.services, _forwarded(request.headers), websocket=websocket, base_url=_base_url(request.scope)
        )
        if not websocket:
            try:
                await context.authenticate(_credential(request.scope))
            except GatewayError as refusal:
                raise _Refused(refusal.status, refusal.message, gateway_extensions(refusal)) from None
        return context

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        params: object = context.connection_params
        credential = credential_of(params) if isinstance(params, dict) else None
        try:
            await context.authenticate(credential)
        except GatewayError as refusal:
            raise ConnectionRejectionError(
                {"message": refusal.message, "extensions": gateway_extensions(refusal)}
            ) from None
        acknowledged: UnsetType = UNSET  # a plain connection_ack
        return acknowledged

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData):
            self._persisted(data)
        return data

    def _persisted(self, data: GraphQLRequestData) -> None:
        """Resolve a persisted query's hash (``extensions.persistedQuery.sha256Hash``)."""
        persisted = (data.extensions or {}).get("persistedQuery")
        if not isinstance(persisted, dict):
            return
        digest = persisted.get("sha256Hash")
        known = self.services.settings.persisted_queries or {}
        document = known.get(digest) if isinstance(digest, str) else None
        if document is None or (data.query is not None and document_hash(data.query) != digest):
            raise _Refused(
                200, "PersistedQueryNotFound", {"code": "PERSISTED_QUERY_NOT_FOUND", "sha256Hash": digest}
            )
        data.query = document

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()  # text: WebSocket clients expect text frames

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            import json

            raise json.JSONDecodeError(str(exc), exc.doc, exc.pos) from None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except _Refused as refused:
            body = orjson.dumps({"errors": [{"message": refused.message, "extensions": refused.extensions}]})
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            retry = refused.extensions.get("retryAfter")
            if retry is not None:
                headers.append((b"retry-after", str(retry).encode()))
            await send({"type": "http.response.start", "status": refused.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})


class GraphQLSurface:
    """Serves ``/graphql`` for one gateway; its schema takes ``gateway.graphql`` at ``start()``."""

    def __init__(
        self, core: GatewayCore, jobs: JobService, batches: BatchService, hub: Callable[[], RoomHub | None]
    ) -> None:
        self.services = Services(core, jobs, batches, hub)
        self._view: _View | None = None

    async def start(self) -> None:
        """Build the schema with the configured limits (called at the app's startup)."""
        self._view = _View(self.services)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        view = self._view
        if view is None or not self.services.settings.enabled:
            await _not_served(scope, receive, send)
            return
        await view(scope, receive, send)


async def _not_served(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = orjson.dumps(
        {
            "errors": [
                {"message": "GraphQL is turned off on this gateway", "extensions": {"code": "NOT_FOUND"}}
            ]
        }
    )
    await send(
        {"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})
