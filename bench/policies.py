"""Added latency of the gateway's policy pipeline, in one run.

    .venv/bin/python bench/policies.py [--requests 3000]

Three gateways in front of the same fast upstream (pass-through JSON, concurrency 1): bare (no
auth, no limits), the full pipeline with in-memory counters (auth + per-key limits + budget +
breaker, key in SQLite), and the same pipeline with Redis counters (the local Redis). Each runs
as its own process pinned to core 1; the upstream and the load generator share core 0. Targets:
≤ 0.2 ms p50 added with the memory backend, ≤ 1 ms with Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import uvloop
import yaml

from bench._common import free_port, pin_to_core
from bench._wire import MODEL, HttpConnection, UpstreamServer, post
from bench.gateway import pct, sequential
from claudegate.store import Database, KeyBudget, KeyLimits, KeyStore

KEY_ENV = "CLAUDEGATE_BENCH_UPSTREAM_KEY"
ADMIN_ENV = "CLAUDEGATE_BENCH_ADMIN_KEY"
BODY = orjson.dumps({"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]})


def config(upstream_port: int, *, policies: bool, database: str, redis_url: str | None) -> dict[str, Any]:
    route: dict[str, Any] = {
        "name": MODEL,
        "deployments": [
            {
                "provider": "anthropic",
                "base_url": f"http://127.0.0.1:{upstream_port}",
                "api_key": f"env:{KEY_ENV}",
            }
        ],
    }
    data: dict[str, Any] = {"models": [route]}
    if policies:
        route["breaker"] = {"failure_threshold": 5, "open_duration": 30}
        data["auth"] = {"admin_key": f"env:{ADMIN_ENV}"}
        data["limits"] = {"per_key": {"requests_per_minute": 10_000_000, "concurrent_requests": 1000}}
        storage: dict[str, Any] = {"database_url": database, "table_prefix": "bench_"}
        if redis_url:
            storage.update(redis_url=redis_url, redis_prefix=f"bench{uuid.uuid4().hex[:8]}")
        data["storage"] = storage
    return data


async def start(upstream_port: int, settings: dict[str, Any], folder: Path) -> tuple[Any, int]:
    path = folder / f"gateway-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(settings))
    port = free_port()
    argv = ["claudegate", "serve", "--config", str(path), "--port", str(port), "--log-level", "warning"]
    code = (
        "import os, sys\n"
        "if hasattr(os, 'sched_setaffinity') and os.cpu_count() > 1:\n"
        "    os.sched_setaffinity(0, {1})\n"
        "from claudegate.cli import main\n"
        f"sys.argv = {argv!r}\n"
        "main()\n"
    )
    env = {**os.environ, KEY_ENV: "sk-bench-upstream-0000", ADMIN_ENV: "sk-bench-admin-00000"}
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=env, cwd=str(folder))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = await HttpConnection.open(port)
            connection.close()
            return process, port
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("the gateway did not start")


async def measure(port: int, key: str, requests: int) -> list[float]:
    raw = post("/v1/messages", BODY, {"x-api-key": key, "anthropic-version": "2023-06-01"})
    await sequential(port, raw, 200)  # warm up: connections, caches, scripts
    totals, _ = await sequential(port, raw, requests)
    return totals


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    database = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    db = await Database.connect(database, table_prefix="bench_")
    created = await KeyStore(db).create(
        "bench",
        limits=KeyLimits(requests_per_minute=10_000_000, concurrent_requests=1000),
        budget=KeyBudget(cost_per_day=1_000_000.0),
    )
    await db.close()
    upstream = UpstreamServer()
    await upstream.start()
    results: dict[str, list[float]] = {}
    cases = [
        ("bare gateway", False, None),
        ("pipeline, memory counters", True, None),
        ("pipeline, Redis counters", True, args.redis_url),
    ]
    for name, policies, redis_url in cases:
        process, port = await start(
            upstream.port,
            config(upstream.port, policies=policies, database=database, redis_url=redis_url),
            folder,
        )
        try:
            results[name] = await measure(port, created.plaintext, args.requests)
        finally:
            process.terminate()
            await process.wait()
    await upstream.close()
    bare = pct(results["bare gateway"], 0.5)
    print(f"policy pipeline: pass-through JSON, concurrency 1, {args.requests} requests per gateway")
    print(f"{'':28}{'p50 ms':>8}{'p99 ms':>8}{'added p50 ms':>14}")
    for name, totals in results.items():
        p50 = pct(totals, 0.5)
        print(f"{name:28}{p50:>8.3f}{pct(totals, 0.99):>8.3f}{p50 - bare:>14.3f}")
    memory = pct(results["pipeline, memory counters"], 0.5) - bare
    redis = pct(results["pipeline, Redis counters"], 0.5) - bare
    verdict = "met" if memory <= 0.2 and redis <= 1.0 else "NOT met"
    print(f"targets (memory <= 0.2 ms, Redis <= 1 ms added p50): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    pin_to_core(0)
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
