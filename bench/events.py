"""Event pipelines end to end: events/s from ``POST /v1/events`` to every result event recorded.

    .venv/bin/python bench/events.py [--events 2000] [--batch 500] [--tools] [--postgres]

One gateway process (uvicorn on loopback, on uvloop as ``claudegate serve`` runs it, pinned to
one core) with the embedded job backend on SQLite (a temporary file) — or with ``--postgres``
PgQueuer on PostgreSQL (tables of a fresh prefix, removed after) — and the in-process simulator
upstream; one pipeline (with ``--tools``, one that calls a tool, so two model turns a run).
``--events`` events are posted in lists of ``--batch``; the clock runs from the first post to the
last run's end (the job engine's observer sees it): events/s per core, and the ingress rate
(events accepted per second of posting) apart; and events per CPU second the process spent, which
other work on the machine does not change (the wall clock does).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import uvloop

from bench._common import pin_to_core
from bench.jobs import POSTGRES_URL, _drop_queue
from claudegate.gateway import create_app, parse_config
from claudegate.gateway.jobs import Job
from claudegate.testing import LiveServer
from claudegate.tools import tool


@tool
def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: The key.
    """
    return f"{key}: ok"


def _config(storage: dict[str, Any], tools: bool) -> dict[str, Any]:
    pipeline: dict[str, Any] = {
        "name": "bench",
        "on": "bench.*",
        "model": "claude-haiku-4-5",
        "prompt": "Summarise {{ payload.text }}",
        "max_tokens": 16,
    }
    if tools:
        pipeline.update(prompt="Use lookup on {{ payload.text }}", tools=["lookup"])
    return {
        "models": [{"name": "*", "deployments": [{"provider": "simulator"}]}],
        "storage": storage,
        "jobs": {"enabled": True, "workers": 64, "per_key": None},
        "events": {"tool_modules": ["bench.events"] if tools else [], "pipelines": [pipeline]},
    }


def _post(port: int, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", "/v1/events", body=body, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--tools", action="store_true", help="a pipeline that calls a tool")
    parser.add_argument("--postgres", action="store_true", help="PgQueuer on PostgreSQL")
    args = parser.parse_args()
    pin_to_core(0)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # the loop `claudegate serve` runs on
    prefix = f"bev{secrets.token_hex(4)}_"
    with tempfile.TemporaryDirectory() as folder:
        storage: dict[str, Any] = {"database_url": f"sqlite+aiosqlite:///{folder}/events.db"}
        if args.postgres:
            storage = {"database_url": POSTGRES_URL, "table_prefix": prefix}
        try:
            posted, elapsed, cpu = _run(args, storage)
        finally:
            if args.postgres:
                asyncio.run(_drop(prefix))
    kind = "with a tool call (2 model turns)" if args.tools else "one model turn"
    where = "PgQueuer on PostgreSQL" if args.postgres else "embedded backend on SQLite"
    print(f"{args.events} events, {kind}, {where}, simulator upstream, 1 core")
    print(f"  ingress:    {args.events / posted:8.0f} events/s accepted ({posted:.2f} s)")
    print(f"  end to end: {args.events / elapsed:8.0f} events/s ({elapsed:.2f} s, every run ended)")
    print(f"  CPU:        {args.events / cpu:8.0f} events per CPU second of the process ({cpu:.2f} s)")


async def _drop(prefix: str) -> None:
    from claudegate.store import Database

    database = await Database.connect(POSTGRES_URL, table_prefix=prefix)
    try:
        await database.drop_tables()
    finally:
        await database.close()
    await _drop_queue(prefix)


def _run(args: argparse.Namespace, storage: dict[str, Any]) -> tuple[float, float, float]:
    """Seconds to post every event, and until every run ended; CPU seconds the process spent
    meanwhile (every thread: the gateway's loop, SQLite's, this poster's few requests)."""
    app = create_app(parse_config(_config(storage, args.tools)))
    ended = threading.Event()
    count = [0]

    def observe(job: Job) -> None:
        if job.done:
            count[0] += 1
            if count[0] >= args.events:
                ended.set()

    with LiveServer(app) as server:
        engine = app.jobs.engine_if_open
        assert engine is not None
        engine.observers.append(observe)
        started, cpu = time.perf_counter(), time.process_time()
        for first in range(0, args.events, args.batch):
            size = min(args.batch, args.events - first)
            events = [{"type": "bench.item", "payload": {"text": f"item {first + n}"}} for n in range(size)]
            status, body = _post(server.port, orjson.dumps({"events": events}))
            if status != 202:
                raise SystemExit(f"POST /v1/events answered {status}: {body[:200]!r}")
        posted = time.perf_counter() - started
        if not ended.wait(600):
            raise SystemExit(f"only {count[0]} of {args.events} runs ended")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return posted, elapsed, cpu


if __name__ == "__main__":
    main()
