"""Ends written together stay exactly-once: in a shared transaction each end still holds only
while its worker holds the job's lease, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate.gateway.jobs._batch import Batcher
from claudegate.gateway.jobs._store import Change, JobStore
from claudegate.store import Database
from tests.store.conftest import POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    if request.param == "sqlite":
        database = await Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    else:
        database = await Database.connect(POSTGRES_URL, table_prefix=f"jb{secrets.token_hex(4)}_")
    try:
        yield JobStore(database)
    finally:
        if request.param == "postgresql":
            await database.drop_tables()
        await database.close()


def row(job_id: str) -> dict[str, Any]:
    return {
        "id": job_id,
        "owner": "anonymous",
        "principal": {},
        "dialect": "anthropic",
        "request": {"model": "m"},
        "priority": 1,
        "status": "queued",
        "attempts": 0,
        "created_at": 100.0,
        "next_attempt_at": 100.0,
    }


def done(now: float) -> dict[str, Any]:
    return {"status": "succeeded", "result": {"ok": True}, "finished_at": now, "lease_until": None}


async def test_a_batch_ends_only_the_jobs_whose_lease_its_worker_still_holds(store: JobStore) -> None:
    ids = ["job_a", "job_b", "job_c"]
    await store.insert([row(job_id) for job_id in ids])
    assert {job.id for job in await store.claim_many(ids, "w1", 100.0, lease=10.0)} == set(ids)
    # w1 stalls past its lease on job_b: w2 takes it over (its attempt 2).
    (taken,) = await store.claim_many(["job_b"], "w2", 111.0, lease=10.0)
    assert taken.attempts == 2
    written: list[list[int]] = []

    async def extra(connection: AsyncConnection, made: list[int]) -> None:
        written.append(made)

    changes = [Change(job_id, 1, done(112.0)) for job_id in ids]
    assert await store.transition_many("w1", changes, extra) == [True, False, True]
    assert written == [[0, 2]]  # the ledger rows, webhooks and queue entries of those two only
    ended = {job_id: await store.get(job_id) for job_id in ids}
    assert [ended[job_id].status for job_id in ("job_a", "job_c")] == ["succeeded", "succeeded"]  # type: ignore[union-attr]
    current = ended["job_b"]
    assert current is not None and current.status == "running" and current.result is None
    # The same end again changes nothing: a job is ended once.
    assert await store.transition_many("w1", changes, extra) == [False, False, False]
    assert await store.transition_many("w2", [Change("job_b", 2, done(113.0))]) == [True]


async def test_writes_asked_for_together_share_one_and_a_failure_reaches_its_own_callers() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        writes.append(items)
        await asyncio.sleep(0.01)
        if 13 in items:
            raise ValueError("unlucky")
        return [item * 2 for item in items]

    batcher = Batcher(write, limit=4, lanes=1)
    results = await asyncio.gather(*(batcher(item) for item in range(6)), return_exceptions=True)
    assert results == [0, 2, 4, 6, 8, 10]
    assert writes == [[0, 1, 2, 3], [4, 5]]
    alone = await batcher(7)
    assert alone == 14 and writes[-1] == [7]
    failed = await asyncio.gather(batcher(12), batcher(13), return_exceptions=True)
    assert [type(result) for result in failed] == [ValueError, ValueError]
    assert await batcher(1) == 2  # the batcher goes on after a failed write
