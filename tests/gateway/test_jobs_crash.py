"""Jobs survive ``kill -9``: 100 jobs in flight against a slow upstream, the gateway process (or
both PostgreSQL replicas) killed mid-run and restarted — every job ends succeeded, and no job's
usage is in the ledger twice."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from claudegate.store import Database
from tests.gateway import _ledger, _wire
from tests.gateway._process import wait_for_banner
from tests.store.conftest import POSTGRES_URL

JOBS = 100
SERVE = [sys.executable, "-m", "claudegate.cli", "serve"]
ASK = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}


def crash_config(storage: dict[str, Any]) -> dict[str, Any]:
    slow = {"provider": "simulator", "simulator": {"time_to_first_token": 0.15}}
    return {
        "models": [{"name": "*", "deployments": [slow]}],
        "storage": storage,
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
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
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


def submit_all(urls: list[str]) -> list[str]:
    def one(index: int) -> str:
        reply = _wire.call(urls[index % len(urls)], "POST", "/v1/jobs", {"request": ASK})
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


def crash_and_recover(config: Path, folder: Path, replicas: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Submit, kill every replica with SIGKILL once work is under way, restart; the jobs at the end."""
    with started(config, folder) as first, started(config, folder) if replicas > 1 else _none() as second:
        processes = [first[0]] + ([second[0]] if second else [])
        urls = [first[1]] + ([second[1]] if second else [])
        ids = submit_all(urls)
        assert ended(urls[0], ids[0])["status"] == "succeeded"  # work is under way
        for process in processes:
            process.send_signal(signal.SIGKILL)
        for process in processes:
            process.wait(timeout=15)
    with started(config, folder) as again, started(config, folder) if replicas > 1 else _none() as other:
        urls = [again[1]] + ([other[1]] if other else [])
        with ThreadPoolExecutor(8) as pool:
            jobs = list(pool.map(lambda item: ended(urls[item[0] % len(urls)], item[1]), enumerate(ids)))
    return ids, jobs


@contextmanager
def _none() -> Iterator[None]:
    yield None


def check(ids: list[str], jobs: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> None:
    assert Counter(job["status"] for job in jobs) == {"succeeded": JOBS}
    assert any(job["attempts"] > 1 for job in jobs), "no job was cut short by the kill"
    per_job = Counter(row["request_id"].rsplit("_", 1)[0] for row in ledger)
    assert set(per_job) == {"req_" + job_id[4:] for job_id in ids}
    assert set(per_job.values()) == {1}  # each job's usage recorded exactly once
    by_request = {row["request_id"].rsplit("_", 1)[0]: row for row in ledger}
    for job in jobs:
        row = by_request["req_" + job["id"][4:]]
        assert row["status"] == 200 and row["output_tokens"] == job["usage"]["output_tokens"]


def test_jobs_survive_a_kill_on_sqlite(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    database = tmp_path / "jobs.db"
    config.write_text(yaml.safe_dump(crash_config({"database_url": f"sqlite+aiosqlite:///{database}"})))
    ids, jobs = crash_and_recover(config, tmp_path, replicas=1)
    check(ids, jobs, _ledger.rows(database))


@pytest.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[tuple[Path, Database]]:
    """A config on the real PostgreSQL, in tables (and a queue) of this test's own."""
    prefix = f"j{secrets.token_hex(4)}_"
    database = await Database.connect(POSTGRES_URL, table_prefix=prefix)
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(crash_config({"database_url": POSTGRES_URL, "table_prefix": prefix})))
    try:
        yield config, database
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
    postgres: tuple[Path, Database], tmp_path: Path
) -> None:
    config, database = postgres
    import asyncio

    ids, jobs = await asyncio.to_thread(crash_and_recover, config, tmp_path, 2)
    usage = database.tables.usage
    async with database.engine.connect() as connection:
        rows = [dict(row._mapping) for row in (await connection.execute(select(usage))).all()]
    check(ids, jobs, rows)
