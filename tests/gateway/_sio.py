"""Socket.IO helpers for the gateway tests: a python-socketio client that queues every event it
receives, and the reading helpers the tests share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import socketio

from tests.gateway._ws import WAIT

Event = tuple[str, Any]
TERMINAL = ("message.done", "error")


class Client:
    """A python-socketio ``AsyncClient`` whose every event (and ``connect_error``) is queued."""

    def __init__(self, **options: Any) -> None:
        # The client's HTTP session is ours, so that it is closed however the transport ended
        # (python-engineio leaves a cut long-polling request's connection to the collector).
        self.http = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(http_session=self.http, **options)
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.refusals: asyncio.Queue[Any] = asyncio.Queue()
        self.sio.on("*", self._any)
        self.sio.on("connect_error", self._refused)

    async def _any(self, name: str, data: Any = None) -> None:
        await self.events.put((name, data))

    async def _refused(self, data: Any) -> None:
        await self.refusals.put(data)

    async def connect(
        self, base_url: str, auth: dict[str, Any] | None = None, **options: Any
    ) -> dict[str, Any]:
        """Connect and return ``session.created``."""
        await self.sio.connect(base_url, auth=auth, wait_timeout=WAIT, **options)
        name, session = await self.next()
        assert name == "session.created", (name, session)
        created: dict[str, Any] = session
        return created

    async def next(self, name: str | None = None) -> Event:
        """The next event (of type ``name`` when given: others are skipped)."""
        while True:
            event = await asyncio.wait_for(self.events.get(), WAIT)
            if name is None or event[0] == name:
                return event

    async def close(self) -> None:
        await self.sio.disconnect()
        await self.http.close()

    async def call(self, name: str, data: Any) -> Any:
        return await self.sio.call(name, data, timeout=WAIT)

    async def until_done(self, stream_id: str) -> list[Event]:
        """Every event of stream ``stream_id`` up to its terminal one."""
        seen: list[Event] = []
        while True:
            name, data = await self.next()
            if isinstance(data, dict) and data.get("stream_id") == stream_id:
                seen.append((name, data))
                if name in TERMINAL:
                    return seen


@asynccontextmanager
async def connected(
    base_url: str, auth: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[Client]:
    client = Client()
    try:
        await client.connect(base_url, auth, **options)
    except BaseException:
        await client.close()
        raise
    try:
        yield client
    finally:
        await client.close()


def events(seen: list[Event]) -> list[dict[str, Any]]:
    """The Anthropic events carried by ``message.event`` events, in order."""
    return [data["event"] for name, data in seen if name == "message.event"]
