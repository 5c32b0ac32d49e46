"""The same 20-delta stream over WebSocket (``/v1/ws``) and over SSE (``POST /v1/messages``), through
the same gateway, in one run.

    .venv/bin/python bench/websocket.py [--seconds 3] [--rounds 3] [--latency-streams 1000] [--concurrency 50]

The gateway runs in its own process, one worker pinned to core 1, in front of a fast raw upstream
(canned 20-delta Anthropic streams); the upstream and the load generator (raw asyncio clients, no
client library) share core 0. For each transport it reports events/s delivered at concurrency 50
(one stream in flight per connection; for WebSocket also 50 streams multiplexed over 5
connections, and with ``batch: true``: one ``message.events`` frame per upstream read), the
stream's p50 time at concurrency 1, the latency the gateway adds per event
((p50 through the gateway - p50 direct) / events per stream), and the gateway's CPU per event.

The loads take turns on connections opened beforehand: ``--rounds`` rounds of ``seconds / rounds``
each, in alternating order, each once the gateway is idle, so that a machine whose other work comes
and goes during the run weighs on every row alike (one long load after another compares a quiet
minute with a busy one). Each row's CPU is what the gateway ran during its turns.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import uvloop

from bench._common import pin_to_core
from bench._wire import MODEL, HttpConnection, UpstreamServer, post
from bench._ws import WebSocketConnection
from bench.gateway import (
    ANTHROPIC_HEADERS,
    MESSAGES,
    cpu_seconds,
    first_answer,
    pct,
    run_seconds,
    start_gateway,
)

REQUEST = {"model": MODEL, "max_tokens": 256, "messages": MESSAGES}
SSE_REQUEST = post("/v1/messages", orjson.dumps({**REQUEST, "stream": True}), ANTHROPIC_HEADERS)
WS_HEADERS = {"x-api-key": ANTHROPIC_HEADERS["x-api-key"]}


EVENT_PREFIX = b'{"type":"message.event",'


def stream_event_key(buffer: bytearray, start: int, end: int) -> bytes | None:
    """The ``stream_id`` of a ``message.event`` message (None: another message)."""
    if not buffer.startswith(EVENT_PREFIX, start):
        return None
    at = buffer.find(b'"stream_id":"', start, end) + 13
    return bytes(buffer[at : buffer.find(b'"', at, end)])


def sse_events(body: bytes) -> int:
    return body.count(b"event: ")


class WebSocketClient:
    """One connection running streams: ``await stream()`` sends a ``message.create`` and waits for
    its ``message.done``; with several in flight, messages are routed by ``stream_id``."""

    def __init__(self, connection: WebSocketConnection, batch: bool = False) -> None:
        self.connection = connection
        self.batch = batch
        self.counter = 0
        self.waiting: dict[str, tuple[asyncio.Future[int], list[int]]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int, batch: bool = False) -> WebSocketClient:
        connection = await WebSocketConnection.open(port, headers=WS_HEADERS)
        created = orjson.loads(await connection.receive())
        assert created["type"] == "session.created", created
        connection.counted = stream_event_key
        return cls(connection, batch)

    async def _read(self) -> None:
        while True:
            raw = await self.connection.receive()
            if not raw:
                for future, _ in self.waiting.values():
                    if not future.done():
                        future.set_exception(ConnectionError("the connection closed"))
                return
            message = orjson.loads(raw)
            entry = self.waiting.get(message.get("stream_id", ""))
            if entry is None:
                continue
            kind = message["type"]
            if kind == "message.events":
                entry[1][0] += len(message["events"])
            elif kind == "message.done":  # the message.event frames were counted by the connection
                counted = self.connection.counts.pop(message["stream_id"].encode(), 0)
                entry[0].set_result(entry[1][0] + counted)
            elif kind == "error":
                entry[0].set_exception(RuntimeError(str(message["error"])))

    async def stream(self) -> int:
        """One stream; the number of events it delivered."""
        self.counter += 1
        stream_id = f"s{self.counter}"
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting[stream_id] = (future, [0])
        create: dict[str, Any] = {"type": "message.create", "stream_id": stream_id, "request": REQUEST}
        if self.batch:
            create["batch"] = True
        self.connection.send(orjson.dumps(create))
        try:
            return await future
        finally:
            del self.waiting[stream_id]

    def close(self) -> None:
        self.reader.cancel()
        self.connection.close()


async def sse_sequential(port: int, count: int) -> tuple[list[float], int]:
    connection = await HttpConnection.open(port)
    totals, events = [], 0
    for _ in range(count):
        status, body, _, total = await connection.request(SSE_REQUEST)
        if status != 200:
            raise RuntimeError(f"status {status}")
        totals.append(total)
        events = sse_events(body)
    connection.close()
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


async def _run(workers: list[Awaitable[int]]) -> tuple[int, float]:
    """(events delivered, seconds) of ``workers``, each returning the events it delivered."""
    began = time.perf_counter()
    delivered = sum(await asyncio.gather(*workers))
    return delivered, time.perf_counter() - began


class SSELoad:
    """``concurrency`` keep-alive connections, each running one SSE stream after another."""

    def __init__(self, port: int, concurrency: int) -> None:
        self.port = port
        self.concurrency = concurrency
        self.connections: list[HttpConnection] = []

    async def open(self) -> None:
        self.connections = [await HttpConnection.open(self.port) for _ in range(self.concurrency)]

    async def run(self, seconds: float) -> tuple[int, float]:
        """(events delivered, seconds) of streams started for ``seconds``."""
        deadline = time.perf_counter() + seconds

        async def worker(connection: HttpConnection) -> int:
            delivered = 0
            while time.perf_counter() < deadline:
                status, body, _, _ = await connection.request(SSE_REQUEST)
                if status != 200:
                    raise RuntimeError(f"status {status}")
                delivered += sse_events(body)
            return delivered

        return await _run([worker(connection) for connection in self.connections])

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


class WebSocketLoad:
    """``connections`` WebSocket connections, each running ``streams_each`` streams at a time."""

    def __init__(self, port: int, connections: int, streams_each: int, batch: bool = False) -> None:
        self.port = port
        self.count = connections
        self.streams_each = streams_each
        self.batch = batch
        self.clients: list[WebSocketClient] = []

    async def open(self) -> None:
        self.clients = [await WebSocketClient.open(self.port, self.batch) for _ in range(self.count)]

    async def run(self, seconds: float) -> tuple[int, float]:
        """(events delivered, seconds) of streams started for ``seconds``."""
        deadline = time.perf_counter() + seconds

        async def worker(client: WebSocketClient) -> int:
            delivered = 0
            while time.perf_counter() < deadline:
                delivered += await client.stream()
            return delivered

        return await _run([worker(client) for client in self.clients for _ in range(self.streams_each)])

    def close(self) -> None:
        for client in self.clients:
            client.close()


async def sse_load(port: int, seconds: float, concurrency: int) -> tuple[int, float]:
    """(events delivered, seconds) of ``concurrency`` SSE streams at a time for ``seconds``."""
    load = SSELoad(port, concurrency)
    await load.open()
    try:
        return await load.run(seconds)
    finally:
        load.close()


async def ws_load(
    port: int, seconds: float, connections: int, streams_each: int, batch: bool = False
) -> tuple[int, float]:
    """``sse_load`` over ``connections`` WebSocket connections, ``streams_each`` streams at a time
    on each."""
    load = WebSocketLoad(port, connections, streams_each, batch)
    await load.open()
    try:
        return await load.run(seconds)
    finally:
        load.close()


async def measured(pid: int, load: Awaitable[tuple[int, float]]) -> tuple[float, float]:
    """(events/s, gateway CPU ms per event) of one load run."""
    before = cpu_seconds(pid)
    delivered, elapsed = await load
    return delivered / elapsed, (cpu_seconds(pid) - before) / delivered * 1000


Load = SSELoad | WebSocketLoad


async def quiet(pid: int, timeout: float = 5.0) -> None:
    """Wait while the gateway is still busy (finishing the last turn's streams, say): that work is
    not the next turn's."""
    deadline = time.perf_counter() + timeout
    used = run_seconds(pid)
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
        now = run_seconds(pid)
        if now - used < 0.0005:  # under 2.5% of a core for 20 ms: idle
            return
        used = now


async def in_turns(
    pid: int, loads: dict[str, Load], seconds: float, rounds: int
) -> dict[str, tuple[float, float]]:
    """Each load (its connections open) for ``seconds`` in all, in ``rounds`` turns of alternating
    order: its (events/s, gateway CPU ms per event) over its turns."""
    totals = {name: (0, 0.0, 0.0) for name in loads}  # events, seconds, CPU seconds
    names = list(loads)
    for turn in range(rounds):
        for name in names if turn % 2 == 0 else names[::-1]:
            await quiet(pid)
            began = run_seconds(pid)
            delivered, elapsed = await loads[name].run(seconds / rounds)
            events, spent, used = totals[name]
            totals[name] = (events + delivered, spent + elapsed, used + run_seconds(pid) - began)
    return {name: (events / spent, used / events * 1000) for name, (events, spent, used) in totals.items()}


async def measure(
    args: argparse.Namespace, pace: float | None, concurrency: int
) -> tuple[int, float, list[tuple[str, float, float, float]]]:
    """One gateway in front of one upstream: (events per stream, direct p50 ms, rows)."""
    upstream = UpstreamServer(deltas=20, pace=pace)
    await upstream.start()
    # One connection here runs thousands of streams a minute: lift the per-connection rate limit;
    # a load's connections wait while the others take their turns: keep them alive meanwhile.
    settings = (
        "gateway:\n  websocket: {messages_per_minute: null, max_streams: 64}\n"
        "  edge: {keep_alive_timeout: 300}\n"
    )
    process, port, started = start_gateway(upstream.port, core=1, settings=settings)
    try:
        await first_answer(port, started)
        direct, events = await sse_sequential(upstream.port, args.latency_streams)
        sse_c1, sse_count = await sse_sequential(port, args.latency_streams)
        ws_c1, ws_count = await ws_sequential(port, args.latency_streams)
        assert sse_count == ws_count == events, (sse_count, ws_count, events)
        connections = max(1, concurrency // 10)
        loads: dict[str, Load] = {
            "sse": SSELoad(port, concurrency),
            "ws": WebSocketLoad(port, concurrency, 1),
            "mux": WebSocketLoad(port, connections, 10),
            "batch": WebSocketLoad(port, concurrency, 1, batch=True),
        }
        for load in loads.values():
            await load.open()
        try:
            figures = await in_turns(process.pid, loads, args.seconds, args.rounds)
        finally:
            for load in loads.values():
                load.close()
    finally:
        process.terminate()
        process.wait(10)
        await upstream.close()
    rows = [
        ("SSE  POST /v1/messages", figures["sse"][0], pct(sse_c1, 0.5), figures["sse"][1]),
        ("WebSocket /v1/ws, 1 stream/conn", figures["ws"][0], pct(ws_c1, 0.5), figures["ws"][1]),
        (f"WebSocket, 10 streams x {connections} conns", figures["mux"][0], float("nan"), figures["mux"][1]),
        ("WebSocket, batch: true", figures["batch"][0], float("nan"), figures["batch"][1]),
    ]
    return events, pct(direct, 0.5), rows


async def run(args: argparse.Namespace) -> None:
    print(
        f"websocket benchmark: concurrency 1 for latency ({args.latency_streams} streams), "
        f"{args.seconds:g} s of load for events/s in {args.rounds} turns; gateway on core 1"
    )
    for pace, concurrency in ((None, args.concurrency), (args.pace_ms / 1000, args.paced_concurrency)):
        events, base, rows = await measure(args, pace, concurrency)
        if pace:
            how = f"a frame every {args.pace_ms:g} ms (as a model's tokens arrive)"
        else:
            how = "all frames in one upstream write"
        print(f"\nupstream: {events} events per stream, {how}; {concurrency} streams at once for events/s")
        print(f"direct p50 {base:.3f} ms")
        print(f"{'':34}{'events/s':>10}{'p50 ms':>9}{'+ms/event':>11}{'cpu µs/event':>14}")
        for name, rate, p50, cpu in rows:
            added = (p50 - base) / events
            print(f"{name:34}{rate:>10,.0f}{p50:>9.3f}{added:>11.4f}{cpu * 1000:>14.1f}")
        ratio, multiplexed, batched = (rows[index][1] / rows[0][1] for index in (1, 2, 3))
        print(f"WebSocket/SSE events/s: {ratio:.2f} (multiplexed: {multiplexed:.2f}, batched: {batched:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="turns each load's seconds are cut into")
    parser.add_argument("--latency-streams", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--pace-ms", type=float, default=1.0)
    parser.add_argument("--paced-concurrency", type=int, default=200)
    args = parser.parse_args()
    pin_to_core(0)
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
