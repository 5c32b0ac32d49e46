"""The job engine's throughput and queue latency, on SQLite and on PostgreSQL.

    .venv/bin/python bench/jobs.py [--jobs 1000] [--idle 40] [--hooks 300] [--no-postgres] [--no-sqlite]

- SQLite (the embedded backend, one gateway process running the workers): ``--jobs`` jobs
  submitted at once (one transaction, as a batch is), timed until the last has ended: jobs/s.
- PostgreSQL (PgQueuer): two ``claudegate serve`` processes run the workers; this process only
  submits. Same measure.
- Queue latency when idle: ``--idle`` jobs, each submitted through ``POST /v1/jobs`` once the
  previous one has ended; p50/p99 of the time from the job's record (its ``202``) to its start.
  Under load the same figure for the burst is shown too.
- Webhook deliveries per second (SQLite): ``--hooks`` jobs with a webhook to a receiver on
  loopback, timed from the first delivery to the last.

The upstream is the in-process simulator (no added latency). Targets: ≥ 500 jobs/s on PostgreSQL
with 2 worker processes, ≥ 200 jobs/s on SQLite, p50 queue latency ≤ 20 ms when idle.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml
from aiohttp import web

from bench._common import free_port

ASK = {"model": "claude-sonnet-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
POSTGRES_URL = os.environ.get(
    "CLAUDEGATE_BENCH_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789").decode()
JOBS = {"workers": 64, "per_key": None, "poll": 0.5}


def config(storage: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "models": [{"name": "*", "deployments": [{"provider": "simulator"}]}],
        "storage": storage,
        **extra,
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def burst(engine: Any, count: int, webhook: str | None = None) -> tuple[float, list[float]]:
    """Submit ``count`` jobs at once; seconds until all ended, and each one's wait to start (s)."""
    from claudegate.gateway.core import Principal
    from claudegate.gateway.jobs import JobSpec

    group = "bench_" + secrets.token_hex(6)
    specs = [JobSpec(ASK, webhook_url=webhook) for _ in range(count)]
    started = time.perf_counter()
    await engine.submit(Principal(), specs, group_id=group)
    while not (await engine.counts(group)).done:
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    jobs = await engine.group(group, limit=count)
    assert all(job.status == "succeeded" for job in jobs), {job.status for job in jobs}
    return elapsed, [job.started_at - job.created_at for job in jobs if job.started_at is not None]


async def idle_latency(engine: Any, count: int) -> list[float]:
    """Jobs one at a time, each once the previous one has ended: each one's wait to start (s)."""
    from claudegate.gateway.core import Principal
    from claudegate.gateway.jobs import JobSpec

    waits = []
    for _ in range(count):
        (job,) = await engine.submit(Principal(), [JobSpec(ASK)])
        while not job.done:
            job = await engine.wait(job.id, None, 30)
        assert job.started_at is not None
        waits.append(job.started_at - job.created_at)
    return waits


async def receiver(received: list[float]) -> tuple[web.AppRunner, str]:
    async def receive(request: web.Request) -> web.Response:
        await request.read()
        received.append(time.perf_counter())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/hooks"


async def sqlite_run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """The embedded backend in this process: burst, idle latency, webhook deliveries."""
    from claudegate.gateway import GatewayApp, parse_config

    storage = {"database_url": f"sqlite+aiosqlite:///{folder / 'bench.db'}"}
    os.environ["CG_BENCH_WEBHOOK_SECRET"] = SECRET
    hooks = {"secret": "env:CG_BENCH_WEBHOOK_SECRET", "allow_private": ["127.0.0.0/8"]}
    app = GatewayApp(parse_config(config(storage, jobs=JOBS, webhooks=hooks)))
    received: list[float] = []
    runner, url = await receiver(received)
    await app.startup()
    try:
        engine = await app.jobs.engine()
        await burst(engine, 50)  # warm: connections, caches
        elapsed, waits = await burst(engine, args.jobs)
        idle = await idle_latency(engine, args.idle)
        await burst(engine, args.hooks, webhook=url)
        deadline = time.monotonic() + 60
        while len(received) < args.hooks and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await app.shutdown()
        await runner.cleanup()
    span = received[-1] - received[0] if len(received) > 1 else float("nan")
    return {
        "jobs_per_s": args.jobs / elapsed,
        "burst_waits": waits,
        "idle_waits": idle,
        "deliveries_per_s": (len(received) - 1) / span if span == span and span > 0 else float("nan"),
        "delivered": len(received),
    }


def serve(config_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [sys.executable, "-m", "claudegate.cli", "serve", "--config", str(config_path)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


async def ready(ports: list[int], timeout: float = 120.0) -> None:
    """Until each worker process answers (its job engine, and so the queue's schema, is up)."""
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        for port in ports:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health") as reply:
                        if reply.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the worker on port {port} did not start")
                await asyncio.sleep(0.2)


async def postgres_run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Two ``claudegate serve`` worker processes; this process submits through the same queue."""
    from claudegate.gateway import GatewayApp, parse_config
    from claudegate.gateway.jobs import JobEngine
    from claudegate.gateway.jobs._pgqueue import PgQueueDispatcher
    from claudegate.store import Database

    prefix = f"b{secrets.token_hex(4)}_"
    storage = {"database_url": POSTGRES_URL, "table_prefix": prefix}
    path = folder / "pg.yaml"
    path.write_text(yaml.safe_dump(config(storage, jobs={**JOBS, "enabled": True})))
    database = await Database.connect(POSTGRES_URL, table_prefix=prefix)
    parsed = parse_config(config(storage, jobs=JOBS))
    app = GatewayApp(parsed)  # its core only: this process runs no worker
    engine = JobEngine(app.core, database, parsed.jobs)
    submitter = PgQueueDispatcher(engine, POSTGRES_URL, prefix)
    engine.dispatcher = submitter
    started = [serve(path), serve(path)]
    workers = [process for process, _ in started]
    try:
        await ready([port for _, port in started])
        await burst(engine, 50)
        elapsed, waits = await burst(engine, args.jobs)
        idle = await idle_latency(engine, args.idle)
    finally:
        for process in workers:
            process.send_signal(signal.SIGINT)
        for process in workers:
            process.wait(timeout=20)
        await database.drop_tables()
        await _drop_queue(prefix)
        await database.close()
    return {"jobs_per_s": args.jobs / elapsed, "burst_waits": waits, "idle_waits": idle}


async def _drop_queue(prefix: str) -> None:
    import asyncpg  # type: ignore[import-untyped]
    from pgqueuer import AsyncpgDriver, Queries
    from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment, QueryQueueBuilder
    from pgqueuer.domain.settings import DBSettings

    settings = DBSettings(prefix=prefix)
    connection = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        driver = AsyncpgDriver(connection)
        await Queries(driver, QueryBuilderEnvironment(settings), QueryQueueBuilder(settings)).uninstall()
    finally:
        await connection.close()


def _spread(label: str, values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    return f"  202 → start, {label}: p50 {p50:7.1f} ms   p99 {p99:7.1f} ms"


def report(name: str, result: dict[str, Any]) -> None:
    print(f"{name}: {result['jobs_per_s']:8.0f} jobs/s")
    print(_spread("idle ", result["idle_waits"]))
    print(_spread("burst", result["burst_waits"]))
    if "deliveries_per_s" in result:
        print(f"  webhook deliveries: {result['deliveries_per_s']:8.0f} /s ({result['delivered']} delivered)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=40)
    parser.add_argument("--hooks", type=int, default=300)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if not args.no_sqlite:
            report("SQLite (embedded, 1 process)", await sqlite_run(args, Path(folder)))
        if not args.no_postgres:
            report("PostgreSQL (PgQueuer, 2 worker processes)", await postgres_run(args, Path(folder)))


if __name__ == "__main__":
    asyncio.run(main())
