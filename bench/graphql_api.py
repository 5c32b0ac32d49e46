"""``/graphql`` against the REST and SSE paths of the same gateway, for the same request, in one run.

    .venv/bin/python bench/graphql_api.py [--seconds 3] [--requests 500] [--concurrency 20] [--profile PATH]

The gateway runs in its own process pinned to core 1, in front of a fast raw upstream (a canned
message, or a canned 20-delta stream); the upstream and the load generator (raw asyncio clients)
share core 0. It reports ``createMessage`` (HTTP POST /graphql) against ``POST /v1/messages``:
requests/s at the given concurrency and the p50 latency at concurrency 1 (the added p50 is what
GraphQL costs over REST); and ``messageStream`` over graphql-transport-ws against SSE: events/s at
the given concurrency (one subscription in flight per connection), and the gateway's CPU per event
of each (utime+stime / events: on a busy machine, where the gateway does not get its core to
itself, the steadier figure). ``--profile PATH`` writes cProfile statistics of the gateway during
the ``messageStream`` load to PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import uvloop

from bench._common import pin_to_core
from bench._wire import MODEL, HttpConnection, UpstreamServer, post
from bench._ws import WebSocketConnection
from bench.gateway import ANTHROPIC_HEADERS, MESSAGES, first_answer, pct, profiled, start_gateway
from bench.websocket import measured, sse_load

REQUEST = {"model": MODEL, "max_tokens": 256, "messages": MESSAGES}
REST = post("/v1/messages", orjson.dumps(REQUEST), ANTHROPIC_HEADERS)
INPUT = {"model": MODEL, "maxTokens": 256, "messages": MESSAGES}
CREATE = (
    "mutation($i: MessageInput!) { createMessage(input: $i) { id text stopReason usage { outputTokens } } }"
)
GRAPHQL = post("/graphql", orjson.dumps({"query": CREATE, "variables": {"i": INPUT}}), ANTHROPIC_HEADERS)
SUBSCRIBE = "subscription($i: MessageInput!) { messageStream(input: $i) { type index text } }"


async def sequential(port: int, raw: bytes, count: int) -> list[float]:
    connection = await HttpConnection.open(port)
    totals = []
    for _ in range(count):
        status, body, _, total = await connection.request(raw)
        if status != 200 or b'"errors"' in body:
            raise RuntimeError(f"status {status}: {body[:200]!r}")
        totals.append(total)
    connection.close()
    return totals


async def load(port: int, raw: bytes, seconds: float, concurrency: int) -> float:
    """Requests per second."""
    connections = [await HttpConnection.open(port) for _ in range(concurrency)]
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(connection: HttpConnection) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            status, _, _, _ = await connection.request(raw)
            if status != 200:
                raise RuntimeError(f"status {status}")
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(connection) for connection in connections))
    elapsed = time.perf_counter() - began
    for connection in connections:
        connection.close()
    return done / elapsed


NEXT = b'","type":"next","payload":{"data":'


def next_message_id(buffer: bytearray, start: int, end: int) -> bytes | None:
    """The operation id of a ``next`` message without errors (None: any other message)."""
    if not buffer.startswith(b'{"id":"', start):
        return None
    close = buffer.find(b'"', start + 7, end)
    if close < 0 or not buffer.startswith(NEXT, close) or buffer.find(b'"errors":', close, end) >= 0:
        return None
    return bytes(buffer[start + 7 : close])


class Subscriber:
    """One graphql-transport-ws connection running one subscription at a time (its ``next``
    messages counted by the connection as they arrive)."""

    def __init__(self, connection: WebSocketConnection) -> None:
        self.connection = connection
        self.counter = 0

    @classmethod
    async def open(cls, port: int) -> Subscriber:
        headers = {**ANTHROPIC_HEADERS, "sec-websocket-protocol": "graphql-transport-ws"}
        connection = await WebSocketConnection.open(port, "/graphql", headers=headers)
        connection.send(orjson.dumps({"type": "connection_init", "payload": {}}))
        ack = orjson.loads(await connection.receive())
        assert ack["type"] == "connection_ack", ack
        connection.counted = next_message_id
        return cls(connection)

    async def stream(self) -> int:
        """One subscription to its ``complete``; the events it delivered."""
        self.counter += 1
        key = str(self.counter)
        payload: dict[str, Any] = {"query": SUBSCRIBE, "variables": {"i": INPUT}}
        self.connection.send(orjson.dumps({"id": key, "type": "subscribe", "payload": payload}))
        raw = await self.connection.receive()  # the next messages are counted, not delivered
        if not raw:
            raise ConnectionError("the connection closed")
        message = orjson.loads(raw)
        if message != {"id": key, "type": "complete"}:
            raise RuntimeError(str(message))
        return self.connection.counts.pop(key.encode(), 0)


async def subscription_load(port: int, seconds: float, concurrency: int) -> tuple[int, float]:
    subscribers = [await Subscriber.open(port) for _ in range(concurrency)]
    deadline = time.perf_counter() + seconds
    delivered = 0

    async def worker(subscriber: Subscriber) -> None:
        nonlocal delivered
        while time.perf_counter() < deadline:
            events = await subscriber.stream()
            delivered += events

    began = time.perf_counter()
    await asyncio.gather(*(worker(subscriber) for subscriber in subscribers))
    elapsed = time.perf_counter() - began
    for subscriber in subscribers:
        subscriber.connection.close()
    return delivered, elapsed


async def run(args: argparse.Namespace) -> None:
    upstream = UpstreamServer(deltas=20)
    await upstream.start()
    profile = Path(args.profile).resolve() if args.profile else None
    process, port, started = start_gateway(upstream.port, core=1, profile=profile)
    try:
        await first_answer(port, started)
        await sequential(port, GRAPHQL, 50)  # warm: the schema's first run, the connection pools
        rest_c1 = await sequential(port, REST, args.requests)
        graphql_c1 = await sequential(port, GRAPHQL, args.requests)
        rest_rate = await load(port, REST, args.seconds, args.concurrency)
        graphql_rate = await load(port, GRAPHQL, args.seconds, args.concurrency)
        sse_rate, sse_cpu = await measured(process.pid, sse_load(port, args.seconds, args.concurrency))
        async with profiled(process, profile):
            subscriptions = subscription_load(port, args.seconds, args.concurrency)
            sub_rate, sub_cpu = await measured(process.pid, subscriptions)
    finally:
        process.terminate()
        process.wait(10)
        await upstream.close()
    rest_p50, graphql_p50 = pct(rest_c1, 0.5), pct(graphql_c1, 0.5)
    print(
        f"graphql benchmark: gateway on core 1; {args.seconds:g} s of load at concurrency {args.concurrency}"
    )
    print(f"{'':38}{'req/s':>9}{'p50 ms':>9}")
    print(f"{'POST /v1/messages':38}{rest_rate:>9,.0f}{rest_p50:>9.3f}")
    print(f"{'createMessage (POST /graphql)':38}{graphql_rate:>9,.0f}{graphql_p50:>9.3f}")
    print(f"added p50: {graphql_p50 - rest_p50:.3f} ms (target <= 1 ms)")
    print(f"{'':38}{'events/s':>9}{'cpu µs/event':>14}")
    print(f"{'SSE  POST /v1/messages (stream)':38}{sse_rate:>9,.0f}{sse_cpu * 1000:>14.1f}")
    print(f"{'messageStream (graphql-transport-ws)':38}{sub_rate:>9,.0f}{sub_cpu * 1000:>14.1f}")
    print(f"subscription/SSE events/s: {sub_rate / sse_rate:.2f} (target >= 0.50)")
    print(f"subscription/SSE events per gateway CPU second: {sse_cpu / sub_cpu:.2f}")
    if profile is not None:
        print(f"gateway profile of the messageStream load: python -m pstats {profile}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--requests", type=int, default=500, help="sequential requests for p50 latency")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--profile", help="write cProfile statistics of the messageStream load here")
    args = parser.parse_args()
    pin_to_core(0)
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
