"""Jobs survive ``kill -9``: 100 jobs with webhooks in flight against a slow upstream, the gateway
process (or both PostgreSQL replicas) killed mid-run and restarted — every job ends succeeded, its
webhook is delivered at least once under one stable ``webhook-id`` with a signature the
``standardwebhooks`` package verifies, and no job's usage is in the ledger twice."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web
from sqlalchemy import select
from standardwebhooks import Webhook

from claudegate.store import Database
from tests.gateway import _ledger, _wire
from tests.gateway._process import wait_for_banner
from tests.gateway._receiver import Received, Receiver
from tests.store.conftest import POSTGRES_URL

JOBS = 100
SERVE = [sys.executable, "-m", "claudegate.cli", "serve"]
ASK = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}
SLOW = "claude-slow-crash"
"""Every fourth job's model: its calls are still running when the gateway is killed."""


SECRET = "whsec_" + base64.b64encode(b"crash-test-webhook-secret-0123").decode()


class Counting(Receiver):
    """A receiver that fails the first attempt of every 7th webhook and tells when every job's
    webhook has arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, set[str]] = {}
        self.refused: set[str] = set()
        self.all_in = asyncio.Event()
        self.expected = JOBS

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        Webhook(SECRET).verify(body, headers)  # raises on a bad signature: the sender sees a 500
        webhook_id = headers["webhook-id"]
        self.received.append(Received(request.path, headers, body, time.time()))
        job_id = orjson.loads(body)["data"]["id"]
        if len(self.jobs) % 7 == 0 and job_id not in self.jobs and webhook_id not in self.refused:
            self.refused.add(webhook_id)  # its first attempt fails: the retry carries the same id
            return web.Response(status=500)
        self.jobs.setdefault(job_id, set()).add(webhook_id)
        if len(self.jobs) >= self.expected:
            self.all_in.set()
        return web.Response(status=204)


def crash_config(storage: dict[str, Any], *, stuck: bool) -> dict[str, Any]:
    """The gateway's config; with ``stuck``, calls to ``SLOW`` never answer before the kill (so the
    kill finds them running), else every call answers after 0.15 s."""
    slow = {"provider": "simulator", "simulator": {"time_to_first_token": 0.15}}
    stalled = {
        "provider": "simulator",
        "model": "claude-sonnet-5",
        "simulator": {"time_to_first_token": 600 if stuck else 0.15},
    }
    return {
        "models": [{"name": SLOW, "deployments": [stalled]}, {"name": "*", "deployments": [slow]}],
        "storage": storage,
        "webhooks": {
            "secret": "env:CG_CRASH_SECRET",
            "allow_private": ["127.0.0.0/8"],
            "schedule_scale": 0.001,
        },
        "jobs": {
            "enabled": True,
            "workers": 24,
            "lease": 1.0,
            "heartbeat": 0.25,
            "poll": 0.2,
            "backoff": 0.05,
        },
    }


@contextmanager
def started(config: Path, folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``claudegate serve`` on a free port; killed (SIGKILL) when the block ends if still alive."""
    proc = subprocess.Popen(
        [*SERVE, "--config", str(config), "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "CG_CRASH_SECRET": SECRET},
        cwd=folder,
    )
    try:
        yield proc, wait_for_banner(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()


def submit_all(urls: list[str], hook: str) -> list[str]:
    def one(index: int) -> str:
        request = {**ASK, "model": SLOW} if index % 4 == 1 else ASK
        body = {"request": request, "webhook": {"url": hook}}
        reply = _wire.call(urls[index % len(urls)], "POST", "/v1/jobs", body)
        assert reply.status == 202, reply.body
        job_id: str = reply.json()["id"]
        return job_id

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(JOBS)))


def ended(url: str, job_id: str) -> dict[str, Any]:
    reply = _wire.call(url, "GET", f"/v1/jobs/{job_id}?wait=40", timeout=60)
    assert reply.status == 200, reply.body
    job: dict[str, Any] = reply.json()
    return job


def running(url: str, job_id: str) -> None:
    """Once the job is running (its call under way)."""
    deadline = time.monotonic() + 40
    while (status := _wire.call(url, "GET", f"/v1/jobs/{job_id}").json()["status"]) != "running":
        assert status == "queued" and time.monotonic() < deadline, f"job {job_id} is {status}"
        time.sleep(0.02)


def crash_and_recover(
    config: Path,
    folder: Path,
    replicas: int,
    hook: str,
    recovered: Callable[[], None],
    delivered: Callable[[], None],
) -> tuple[list[str], list[dict[str, Any]]]:
    """Submit, kill every replica with SIGKILL once some jobs have ended and some (their upstream
    stalled) are running, restart with an upstream that answers (``recovered``); the jobs at the
    end (the replicas stay up until ``delivered`` returns)."""
    with started(config, folder) as first, started(config, folder) if replicas > 1 else _none() as second:
        processes = [first[0]] + ([second[0]] if second else [])
        urls = [first[1]] + ([second[1]] if second else [])
        ids = submit_all(urls, hook)
        assert ended(urls[0], ids[0])["status"] == "succeeded"  # work is under way
        running(urls[0], ids[1])  # and some is cut short by the kill
        for process in processes:
            process.send_signal(signal.SIGKILL)
        for process in processes:
            process.wait(timeout=15)
    recovered()
    with started(config, folder) as again, started(config, folder) if replicas > 1 else _none() as other:
        urls = [again[1]] + ([other[1]] if other else [])
        with ThreadPoolExecutor(8) as pool:
            jobs = list(pool.map(lambda item: ended(urls[item[0] % len(urls)], item[1]), enumerate(ids)))
        delivered()
    return ids, jobs


@contextmanager
def _none() -> Iterator[None]:
    yield None


async def run_crash(
    config: Path, folder: Path, replicas: int, storage: dict[str, Any]
) -> tuple[list[str], list[dict[str, Any]], Counting]:
    loop = asyncio.get_running_loop()
    hooks = Counting()
    async with receiving(hooks):
        config.write_text(yaml.safe_dump(crash_config(storage, stuck=True)))

        def recovered() -> None:
            config.write_text(yaml.safe_dump(crash_config(storage, stuck=False)))

        def delivered() -> None:
            asyncio.run_coroutine_threadsafe(asyncio.wait_for(hooks.all_in.wait(), 40), loop).result()

        ids, jobs = await asyncio.to_thread(
            crash_and_recover, config, folder, replicas, hooks.url(), recovered, delivered
        )
    return ids, jobs, hooks


def check(ids: list[str], jobs: list[dict[str, Any]], ledger: list[dict[str, Any]], hooks: Counting) -> None:
    assert Counter(job["status"] for job in jobs) == {"succeeded": JOBS}
    assert any(job["attempts"] > 1 for job in jobs), "no job was cut short by the kill"
    per_job = Counter(row["request_id"].rsplit("_", 1)[0] for row in ledger)
    assert set(per_job) == {"req_" + job_id[4:] for job_id in ids}
    assert set(per_job.values()) == {1}  # each job's usage recorded exactly once
    by_request = {row["request_id"].rsplit("_", 1)[0]: row for row in ledger}
    for job in jobs:
        row = by_request["req_" + job["id"][4:]]
        assert row["status"] == 200 and row["output_tokens"] == job["usage"]["output_tokens"]
    assert set(hooks.jobs) == set(ids)  # every job's webhook delivered, its signature verified
    assert all(len(webhook_ids) == 1 for webhook_ids in hooks.jobs.values())  # one stable id per job
    assert hooks.refused and hooks.refused <= set().union(*hooks.jobs.values())  # retried under the same id
    assert len(hooks.received) > JOBS  # some were sent again (refused once, or cut by the kill)


async def test_jobs_survive_a_kill_on_sqlite(tmp_path: Path) -> None:
    database = tmp_path / "jobs.db"
    storage = {"database_url": f"sqlite+aiosqlite:///{database}"}
    ids, jobs, hooks = await run_crash(tmp_path / "gateway.yaml", tmp_path, 1, storage)
    check(ids, jobs, _ledger.rows(database), hooks)


@pytest.fixture
async def postgres() -> AsyncIterator[tuple[dict[str, Any], Database]]:
    """Storage on the real PostgreSQL, in tables (and a queue) of this test's own."""
    prefix = f"j{secrets.token_hex(4)}_"
    database = await Database.connect(POSTGRES_URL, table_prefix=prefix)
    try:
        yield {"database_url": POSTGRES_URL, "table_prefix": prefix}, database
    finally:
        await database.drop_tables()
        await _drop_queue(prefix)
        await database.close()


async def _drop_queue(prefix: str) -> None:
    import asyncpg  # type: ignore[import-untyped]
    from pgqueuer import AsyncpgDriver, Queries
    from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment, QueryQueueBuilder
    from pgqueuer.domain.settings import DBSettings

    settings = DBSettings(prefix=prefix)
    connection = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        queries = Queries(
            AsyncpgDriver(connection), QueryBuilderEnvironment(settings), QueryQueueBuilder(settings)
        )
        await queries.uninstall()
    finally:
        await connection.close()


async def test_jobs_survive_a_kill_of_both_postgresql_replicas(
    postgres: tuple[dict[str, Any], Database], tmp_path: Path
) -> None:
    storage, database = postgres
    ids, jobs, hooks = await run_crash(tmp_path / "gateway.yaml", tmp_path, 2, storage)
    usage = database.tables.usage
    async with database.engine.connect() as connection:
        rows = [dict(row._mapping) for row in (await connection.execute(select(usage))).all()]
    check(ids, jobs, rows, hooks)


@asynccontextmanager
async def receiving(state: Receiver) -> AsyncIterator[Receiver]:
    """``state`` serving webhooks on loopback at a free port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state._handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    state.base_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"  # type: ignore[attr-defined]
    try:
        yield state
    finally:
        await runner.cleanup()
