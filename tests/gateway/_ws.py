"""WebSocket helpers for the gateway tests: a gateway with chosen ``/v1/ws`` settings on loopback,
and a client that reads messages per stream until each stream's terminal message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from claudegate.gateway import GatewayConfig, create_app, parse_config
from claudegate.gateway.surfaces.websocket import WebSocketSettings, WebSocketSurface
from claudegate.testing import LiveServer
from tests.gateway.conftest import Live

ASK = {"model": "claude-sonnet-5", "max_tokens": 60, "messages": [{"role": "user", "content": "hello there"}]}
TERMINAL = ("message.done", "error")
WAIT = 30.0  # seconds: a generous bound for anything a loopback test waits for


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/v1/ws"


@contextmanager
def serve_ws(
    config: GatewayConfig | dict[str, Any] | None = None,
    settings: WebSocketSettings | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Live]:
    """A gateway whose ``/v1/ws`` has ``settings`` (and ``clock``), on a free loopback port."""
    app = create_app(parse_config(config) if isinstance(config, dict) else config)
    app.websocket = WebSocketSurface(app.core, settings, clock=clock)
    with LiveServer(app) as server:
        yield Live(app, server.base_url)


class FakeClock:
    """Monotonic seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def receive(ws: ClientConnection) -> dict[str, Any]:
    """The next server message (JSON object)."""
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))
    return message


async def receive_type(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next server message of type ``kind`` (heartbeats and others skipped)."""
    while True:
        message = await receive(ws)
        if message["type"] == kind:
            return message


async def refusal(url: str, **options: Any) -> tuple[int, str]:
    """The close code and reason of a connection the server refuses after the handshake."""
    async with connect(url, **options) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await receive(ws)
    frame = closed.value.rcvd
    assert frame is not None, "the server sent no close frame"
    return frame.code, frame.reason


async def open_session(ws: ClientConnection) -> dict[str, Any]:
    created = await receive(ws)
    assert created["type"] == "session.created", created
    session: dict[str, Any] = created["session"]
    return session


async def until_done(ws: ClientConnection, stream_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Every message of ``stream_ids`` until each has ended; keyed by stream (others under "")."""
    messages: dict[str, list[dict[str, Any]]] = {stream_id: [] for stream_id in stream_ids}
    messages[""] = []
    pending = set(stream_ids)
    while pending:
        message = await receive(ws)
        stream_id = message.get("stream_id")
        if stream_id in pending and "origin" not in message:  # not a copy relayed from a room
            messages[stream_id].append(message)
            if message["type"] in TERMINAL:
                pending.discard(stream_id)
        else:
            messages[""].append(message)
    return messages


def events(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stream events carried by ``messages`` (their ``event`` objects, in order)."""
    return [message["event"] for message in messages if message["type"] == "message.event"]


async def stream(
    ws: ClientConnection, stream_id: str, request: dict[str, Any], **fields: Any
) -> list[dict[str, Any]]:
    """Start one stream and read it to its end: its messages, terminal last."""
    await send(ws, {"type": "message.create", "stream_id": stream_id, "request": request, **fields})
    return (await until_done(ws, {stream_id}))[stream_id]


async def until_room_done(ws: ClientConnection, stream_id: str) -> list[dict[str, Any]]:
    """The room copies of another connection's stream ``stream_id``, up to its terminal message."""
    relayed = []
    while True:
        message = await receive(ws)
        if message.get("stream_id") == stream_id and "origin" in message:
            relayed.append(message)
            if message["type"] in TERMINAL:
                return relayed
