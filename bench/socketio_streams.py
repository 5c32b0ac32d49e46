"""The same 20-delta stream over Socket.IO (``/socket.io/``, WebSocket transport) and over the raw
WebSocket API (``/v1/ws``), through the same gateway, in one run.

    .venv/bin/python bench/socketio_streams.py [--seconds 2] [--latency-streams 200] [--concurrency 20]

The gateway runs in its own process pinned to core 1 in front of a fast raw upstream (canned
20-delta Anthropic streams); the upstream and the clients share core 0. The Socket.IO client is
python-socketio's (a client library, heavier than the raw WebSocket client), so the gateway's CPU
per event is the figure that compares the two surfaces fairly. For each it reports events/s at
``--concurrency`` connections (one stream in flight on each), the stream's p50 at concurrency 1,
the latency the gateway adds per event ((p50 through the gateway - p50 direct) / events per
stream), and the gateway's CPU per event.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import socketio
import uvloop

from bench._common import pin_to_core
from bench._wire import UpstreamServer
from bench.gateway import first_answer, pct, start_gateway
from bench.websocket import REQUEST, WS_HEADERS, WebSocketClient, measured, sse_sequential, ws_load


class SocketIOClient:
    """One python-socketio connection running one stream at a time: ``await stream()`` emits
    ``message.create`` and waits for its ``message.done``."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.counter = 0
        self.count = 0
        self.done: asyncio.Future[int] | None = None
        self.sio.on("message.event", self._event)
        self.sio.on("message.done", self._done)
        self.sio.on("error", self._error)

    @classmethod
    async def open(cls, port: int) -> SocketIOClient:
        client = cls()
        await client.sio.connect(
            f"http://127.0.0.1:{port}", auth={"token": WS_HEADERS["x-api-key"]}, transports=["websocket"]
        )
        return client

    async def _event(self, data: dict[str, Any]) -> None:
        self.count += 1

    async def _done(self, data: dict[str, Any]) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(self.count)

    async def _error(self, data: dict[str, Any]) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(RuntimeError(str(data.get("error"))))

    async def stream(self) -> int:
        self.counter += 1
        self.count = 0
        self.done = asyncio.get_running_loop().create_future()
        await self.sio.emit("message.create", {"stream_id": f"s{self.counter}", "request": REQUEST})
        return await self.done

    async def close(self) -> None:
        await self.sio.disconnect()


async def sio_sequential(port: int, count: int) -> tuple[list[float], int]:
    client = await SocketIOClient.open(port)
    totals, events = [], 0
    for _ in range(count):
        began = time.perf_counter()
        events = await client.stream()
        totals.append(time.perf_counter() - began)
    await client.close()
    return totals, events


async def ws_sequential(port: int, count: int) -> tuple[list[float], int]:
    client = await WebSocketClient.open(port)
    totals, events = [], 0
    for _ in range(count):
        began = time.perf_counter()
        events = await client.stream()
        totals.append(time.perf_counter() - began)
    client.close()
    return totals, events


async def sio_load(port: int, seconds: float, concurrency: int) -> tuple[int, float]:
    clients = [await SocketIOClient.open(port) for _ in range(concurrency)]
    deadline = time.perf_counter() + seconds
    delivered = 0

    async def worker(client: SocketIOClient) -> None:
        nonlocal delivered
        while time.perf_counter() < deadline:
            events = await client.stream()
            delivered += events

    began = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    elapsed = time.perf_counter() - began
    for client in clients:
        await client.close()
    return delivered, elapsed


async def run(args: argparse.Namespace) -> None:
    upstream = UpstreamServer(deltas=20, pace=None)
    await upstream.start()
    settings = (
        "gateway:\n"
        "  websocket: {messages_per_minute: null, max_streams: 64}\n"
        "  socketio: {messages_per_minute: null, max_streams: 64}\n"
    )
    process, port, started = start_gateway(upstream.port, core=1, settings=settings)
    try:
        await first_answer(port, started)
        direct, events = await sse_sequential(upstream.port, args.latency_streams)
        ws_c1, ws_count = await ws_sequential(port, args.latency_streams)
        sio_c1, sio_count = await sio_sequential(port, args.latency_streams)
        assert ws_count == sio_count == events, (ws_count, sio_count, events)
        ws_rate, ws_cpu = await measured(process.pid, ws_load(port, args.seconds, args.concurrency, 1))
        sio_rate, sio_cpu = await measured(process.pid, sio_load(port, args.seconds, args.concurrency))
    finally:
        process.terminate()
        process.wait(10)
        await upstream.close()
    base = pct(direct, 0.5)
    print(
        f"socketio benchmark: {events} events per stream; p50 over {args.latency_streams} streams at "
        f"concurrency 1; {args.seconds:g} s at {args.concurrency} connections for events/s; gateway on core 1"
    )
    print(f"direct p50 {base:.3f} ms")
    print(f"{'':28}{'events/s':>10}{'p50 ms':>9}{'+ms/event':>11}{'cpu µs/event':>14}")
    for name, rate, p50, cpu in (
        ("WebSocket /v1/ws", ws_rate, pct(ws_c1, 0.5), ws_cpu),
        ("Socket.IO /socket.io/", sio_rate, pct(sio_c1, 0.5), sio_cpu),
    ):
        print(f"{name:28}{rate:>10,.0f}{p50:>9.3f}{(p50 - base) / events:>11.4f}{cpu * 1000:>14.1f}")
    extra = (pct(sio_c1, 0.5) - pct(ws_c1, 0.5)) / events
    ratio = sio_rate / ws_rate
    print(
        f"Socket.IO against WebSocket: +{extra * 1000:.1f} µs per event at concurrency 1, "
        f"{ratio:.2f}x events/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--latency-streams", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    pin_to_core(0)
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
