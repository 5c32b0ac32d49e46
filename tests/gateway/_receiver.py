"""A webhook receiver on loopback (aiohttp): records every delivery (tests verify its
signatures with the `standardwebhooks` package) and answers what a test asks (a status, a
redirect, or never)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    status: int = 204
    """What the next deliveries are answered (302: a redirect to /elsewhere; 0: never answered)."""
    keep_alive: bool = True
    """False: every answer closes its connection (the next delivery connects, and looks up, anew)."""
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hooks") -> str:
        return self.base_url + path

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body, time.time()))
        if self.status == 0:
            await self.released.wait()
        if 300 <= self.status < 400:
            response = web.Response(status=self.status, headers={"location": self.url("/elsewhere")})
        else:
            response = web.Response(status=self.status or 200)
        if not self.keep_alive:
            response.force_close()
        return response


@asynccontextmanager
async def receiver(host: str = "127.0.0.1") -> AsyncIterator[Receiver]:
    """A receiver listening on ``host`` at a free port."""
    state = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state._handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    state.base_url = f"http://{host}:{port}"
    try:
        yield state
    finally:
        state.released.set()
        await runner.cleanup()
