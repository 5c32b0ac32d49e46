"""A real GraphQL client (``gql``) against a gateway over sockets: HTTP, graphql-transport-ws,
graphql-ws, and GraphQL over SSE read off the wire."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import orjson
import pytest
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import event

from claudegate.gateway._config import GraphQLSettings
from claudegate.gateway.core import Principal
from claudegate.gateway.surfaces.graphql._context import GraphQLContext
from tests.gateway.conftest import Live, serve, simulator_route

__all__ = [
    "ADMIN",
    "TRANSPORT_WS",
    "WS",
    "StatementCounter",
    "execute",
    "http_session",
    "keyed_gateway",
    "new_key",
    "offline_context",
    "request",
    "sse_events",
    "ws_session",
]

ADMIN = "admin-secret-for-graphql-tests-01234"

TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # graphql-transport-ws
WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # graphql-ws


@contextmanager
def keyed_gateway(db: Path, **extra: Any) -> Iterator[Live]:
    """A gateway with keys (``ADMIN`` is its admin key) and a SQLite store at ``db``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CG_GRAPHQL_TEST_ADMIN", ADMIN)
        config = {
            "models": [simulator_route()],
            "auth": {"admin_key": "env:CG_GRAPHQL_TEST_ADMIN"},
            "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
            **extra,
        }
        with serve(config) as live:
            yield live


async def _admitted(principal: object, dialect: str) -> None:
    return None


def offline_context(stream: Callable[[Any], Awaitable[Any]] | None = None) -> GraphQLContext:
    """A connection's context for driving a schema without a gateway: a key's caller, default
    settings, every operation admitted, and ``stream`` as the core's ``stream``."""
    settings = GraphQLSettings()
    core = SimpleNamespace(
        config=SimpleNamespace(gateway=SimpleNamespace(graphql=settings)),
        stream=stream,
        admit_operation=_admitted,
    )
    context = GraphQLContext(cast(Any, SimpleNamespace(core=core, settings=settings)), {}, websocket=True)
    context.authenticated = True
    context._principal = Principal()
    return context


def graphql_url(base_url: str, websocket: bool = False) -> str:
    url = base_url + "/graphql"
    return "ws" + url[4:] if websocket else url


@asynccontextmanager
async def http_session(
    base_url: str, key: str | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncClientSession]:
    sent = dict(headers or {})
    if key is not None:
        sent["x-api-key"] = key
    transport = AIOHTTPTransport(url=graphql_url(base_url), headers=sent)
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        yield session


@asynccontextmanager
async def ws_session(
    base_url: str, key: str | None, protocol: str = TRANSPORT_WS, headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncClientSession]:
    transport = WebsocketsTransport(
        url=graphql_url(base_url, websocket=True),
        init_payload={"apiKey": key} if key is not None else {},
        subprotocols=[protocol],
        headers=headers,
    )
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        yield session


def request(document: str, variables: dict[str, Any] | None = None) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


async def execute(
    session: AsyncClientSession, document: str, variables: dict[str, Any] | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(data, errors) of one operation: errors as the server sent them, never raised."""
    try:
        data = await session.execute(request(document, variables))
    except TransportQueryError as exc:
        return exc.data, list(exc.errors or [])
    return data, []


async def new_key(live: Live, name: str) -> str:
    """The secret of a new plain key (made by ``ADMIN``)."""
    async with http_session(live.base_url, ADMIN) as admin:
        data, errors = await execute(
            admin, f'mutation {{ createKey(input: {{name: "{name}"}}) {{ secret }} }}'
        )
    assert not errors and data is not None
    secret: str = data["createKey"]["secret"]
    return secret


async def sse_events(
    base_url: str, key: str, document: str, variables: dict[str, Any]
) -> list[tuple[str, dict[str, Any] | None]]:
    """A subscription over GraphQL over SSE (distinct connections): each (event, data)."""
    body = {"query": document, "variables": variables}
    headers = {"x-api-key": key, "accept": "text/event-stream", "content-type": "application/json"}
    found: list[tuple[str, dict[str, Any] | None]] = []
    async with (
        aiohttp.ClientSession() as client,
        client.post(graphql_url(base_url), data=orjson.dumps(body), headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        assert response.headers["content-type"].startswith("text/event-stream")
        text = (await response.read()).decode()
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in frame.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        event = next(line[7:] for line in lines if line.startswith("event: "))
        data = next((line[6:] for line in lines if line.startswith("data: ")), "")
        found.append((event, orjson.loads(data) if data else None))
    return found


# The tasks that serve a request: uvicorn's request cycle and the DataLoader batches it starts.
_REQUEST_TASKS = frozenset({"RequestResponseCycle.run_asgi", "dispatch_batch"})


class StatementCounter:
    """SQL statements the gateway's engines execute serving requests, counted as they go.

    Statements of the gateway's own background work (the job dispatcher's look for due work after
    the last job ended, heartbeats, sweeps) are counted apart, in ``background``: they may fall
    inside the counted window on a busy machine and say nothing of what a request costs.
    """

    def __init__(self, live: Live) -> None:
        self.count = 0
        self.background = 0
        self._lock = threading.Lock()
        self.engines = []
        policies = live.app.core.policies
        assert policies is not None and policies.database is not None
        engine = live.app.jobs.engine_if_open
        assert engine is not None
        for database in {id(d): d for d in (policies.database, engine.database)}.values():
            self.engines.append(database.engine.sync_engine)

    def _seen(self, *args: Any) -> None:
        task = asyncio.current_task()
        serving = task is not None and getattr(task.get_coro(), "__qualname__", "") in _REQUEST_TASKS
        with self._lock:
            if serving:
                self.count += 1
            else:
                self.background += 1

    def __enter__(self) -> StatementCounter:
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._seen)
