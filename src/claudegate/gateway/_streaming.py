"""Sending a stream: heartbeats on idle streams, and a client disconnect cancels the upstream.

One watcher task per stream waits for the client's ``http.disconnect``; while it waits it sends a
``: keepalive`` comment whenever nothing was sent for ``heartbeat`` seconds — only between whole
SSE frames, never inside one. On disconnect it cancels the sending task at once, which closes the
upstream response (and so cancels the upstream request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from claudegate.gateway._http import Exchange
from claudegate.gateway._metrics import Metrics

__all__ = ["KEEPALIVE", "LastChunk", "send_stream"]

KEEPALIVE = b": keepalive\n\n"


class LastChunk(bytes):
    """The final bytes of a stream: sent together with the end of the body (one write fewer)."""

    __slots__ = ()


class _State:
    __slots__ = ("at_boundary", "disconnected", "last_sent")

    def __init__(self) -> None:
        self.at_boundary = True
        self.disconnected = False
        self.last_sent = time.monotonic()


async def _watch(
    exchange: Exchange, state: _State, sender: asyncio.Task[object], heartbeat: float, metrics: Metrics
) -> None:
    while True:
        idle = time.monotonic() - state.last_sent
        try:
            message = await asyncio.wait_for(exchange.receive(), timeout=max(heartbeat - idle, 0.001))
        except TimeoutError:
            if state.at_boundary and time.monotonic() - state.last_sent >= heartbeat * 0.99:
                state.last_sent = time.monotonic()
                await exchange.send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                metrics.heartbeats.inc()
            continue
        if message["type"] == "http.disconnect":
            state.disconnected = True
            sender.cancel()
            return


async def send_stream(
    exchange: Exchange, chunks: AsyncIterator[bytes], *, heartbeat: float, metrics: Metrics
) -> float | None:
    """Send ``chunks`` as the body of an already started response.

    Returns the time to first byte (seconds since the request began), or None when the client
    left before the end (the upstream iterator is closed either way).
    """
    sender = asyncio.current_task()
    assert sender is not None
    state = _State()
    watcher = asyncio.create_task(_watch(exchange, state, sender, heartbeat, metrics))
    first_byte: float | None = None
    send = exchange.send
    ended = False
    try:
        async for chunk in chunks:
            if not chunk or ended:
                continue
            if first_byte is None:
                first_byte = time.perf_counter() - exchange.started
            ended = isinstance(chunk, LastChunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": not ended})
            state.at_boundary = not ended and chunk.endswith(b"\n\n")
            state.last_sent = time.monotonic()
        if not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not state.disconnected:
            raise
        sender.uncancel()
        metrics.disconnects.inc()
        return None
    finally:
        watcher.cancel()
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()
    return first_byte if first_byte is not None else time.perf_counter() - exchange.started
