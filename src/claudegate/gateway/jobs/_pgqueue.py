"""The PgQueuer dispatcher: PostgreSQL holds the job record, PgQueuer shares the work among the
gateway processes (replicas) that use the same database and table prefix.

Every change that makes work due (a submit, a retry, a webhook to send) adds a PgQueuer entry in
the same transaction as the record's change, so the two never disagree after a crash. A job's
entry is a ticket for one claim: PgQueuer hands it to one worker, keeps its heartbeat while the
claimed job runs, and gives it to another worker when the heartbeat stops (``kill -9``). The
worker claims, under its own lease (see ``JobStore``), the job the fair order names — the same
weighted fair picking as the embedded backend (``_fair.py``), from one picker state that every
replica shares (a row locked by each claim), so high goes first and low never starves with the
same bound across replicas. Owners at their ``jobs.per_key`` here are passed over. A ticket that
finds no job to claim (the work is not due, or still leased to a live worker) gets a fresh entry
for when some will be, and is dropped once no job is queued or running. Entries whose handler
failed are kept (``on_failure="hold"``), not deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate.gateway.jobs._batch import Batcher
from claudegate.gateway.jobs._fair import FairPicker, choose

if TYPE_CHECKING:
    from pgqueuer import QueueManager
    from pgqueuer.models import Job as QueueEntry

    from claudegate.gateway.jobs._engine import JobEngine
    from claudegate.gateway.jobs._model import Job

__all__ = ["PgQueueDispatcher"]

log = logging.getLogger("claudegate.gateway")

_JOB = "claudegate_job"
_DELIVERY = "claudegate_webhook"
_DELIVERY_CONCURRENCY = 16


class PgQueueDispatcher:
    """Work handed out by PgQueuer (see the module docstring)."""

    def __init__(self, engine: JobEngine, url: str, prefix: str) -> None:
        from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment, QueryQueueBuilder
        from pgqueuer.domain.settings import DBSettings

        self.engine = engine
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._settings = DBSettings(prefix=prefix)
        self._qbe = QueryBuilderEnvironment(self._settings)
        self._qbq = QueryQueueBuilder(self._settings)
        self._pool: Any = None
        self._manager: QueueManager | None = None
        self._task: asyncio.Task[None] | None = None
        self._claims = Batcher(self._claim_many, limit=64, lanes=1)  # one at a time: they lock one row

    def _queries(self, driver: Any) -> Any:
        from pgqueuer import Queries

        return Queries(driver, qbe=self._qbe, qbq=self._qbq)

    async def start(self) -> None:
        import asyncpg  # type: ignore[import-untyped]
        from pgqueuer import AsyncpgDriver, AsyncpgPoolDriver, QueueManager
        from pgqueuer.domain.types import Channel

        config = self.engine.config
        self._pool = await asyncpg.create_pool(self._dsn, min_size=2, max_size=6, reset=_nothing_to_reset)
        async with self._pool.acquire() as connection:  # one connection: the install lock binds it
            queries = self._queries(AsyncpgDriver(connection))
            async with queries.schema_lock():
                if not await queries.schema_is_installed():
                    await queries.install()
        await self._fair_row()
        manager = self._manager = QueueManager(
            self._queries(AsyncpgPoolDriver(self._pool)), channel=Channel(self._settings.channel)
        )

        @manager.entrypoint(_JOB, on_failure="hold")
        async def run_job(entry: QueueEntry) -> None:
            await self._job(entry)

        @manager.entrypoint(_DELIVERY, concurrency_limit=_DELIVERY_CONCURRENCY, on_failure="hold")
        async def run_delivery(entry: QueueEntry) -> None:
            await self._delivery(entry)

        batch = max(1, min(10, config.workers // 2))
        self._task = asyncio.get_running_loop().create_task(
            manager.run(
                dequeue_timeout=timedelta(seconds=config.poll),
                batch_size=batch,
                max_concurrent_tasks=max(config.workers, 2 * batch) + self.engine.parking,
                heartbeat_timeout=timedelta(seconds=config.lease),
            )
        )

    async def close(self) -> None:
        if self._manager is not None:
            self._manager.shutdown.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            except Exception:
                self._task.cancel()
                await asyncio.wait((self._task,))
        await self._claims.close()
        if self._pool is not None:
            await self._pool.close()

    async def enqueue(
        self, connection: AsyncConnection, kind: str, ids: Sequence[str], priorities: Sequence[int], at: float
    ) -> None:
        """Add PgQueuer entries through the transaction's own connection (they commit with it)."""
        from pgqueuer import AsyncpgDriver

        if not ids:
            return
        raw = await connection.get_raw_connection()
        queries = self._queries(AsyncpgDriver(raw.driver_connection))
        delay = max(at - self.engine.clock(), 0.0)
        after = timedelta(seconds=delay) if delay > 0 else None
        entrypoint = _JOB if kind == "job" else _DELIVERY
        await queries.enqueue(
            [entrypoint] * len(ids),
            [item.encode() for item in ids],
            list(priorities),
            [after] * len(ids),
        )

    def wake(self) -> None:
        """PgQueuer's own notification wakes the workers."""

    async def _later(self, kind: str, item: str, priority: int, at: float) -> None:
        async with self.engine.database.engine.begin() as connection:
            await self.enqueue(connection, kind, [item], [priority], at)

    async def _job(self, entry: QueueEntry) -> None:
        engine = self.engine
        ticket = (entry.payload or b"").decode()
        if engine.parking > 0 and engine.free <= 0:
            # PgQueuer's cap leaves room for parked jobs, and every worker is busy: the ticket waits.
            await self._later("job", ticket, entry.priority, engine.clock() + min(engine.config.poll, 0.2))
            return
        job = await self._claims(ticket)
        if job is not None:
            await engine.run(job)
            return
        now = engine.clock()
        due = await engine.store.next_due()
        if due is not None:  # due now: passed over (its owner is at its limit here); look again soon
            await self._later("job", ticket, entry.priority, max(due, now + min(engine.config.poll, 0.2)))

    async def _fair_row(self) -> None:
        """The shared picker's row, made once (by whichever replica comes first)."""
        from sqlalchemy.dialects.postgresql import insert

        table = self.engine.database.tables.job_fair
        statement = insert(table).values(id=1, state=FairPicker().state()).on_conflict_do_nothing()
        async with self.engine.database.engine.begin() as connection:
            await connection.execute(statement)

    async def _claim_many(self, tickets: list[str]) -> list[Job | None]:
        """Claims for the entries PgQueuer handed out at about the same time: as many due jobs as
        there are entries, in the fair order of the picker every replica shares (its row stays
        locked until the claims commit); None for an entry left without a job."""
        engine = self.engine
        table = engine.database.tables.job_fair
        now = engine.clock()
        async with engine.database.engine.begin() as connection:
            locked = select(table.c.state).where(table.c.id == 1).with_for_update()
            picker = FairPicker.restored((await connection.execute(locked)).scalar())
            due = await engine.store.due_by_priority(
                now, len(tickets), engine.saturated(), connection=connection
            )
            chosen = choose(picker, due, len(tickets), engine.config.per_key, engine.owner_load)
            claimed = (
                await engine.store.claim_many(
                    chosen, engine.worker, now, engine.config.lease, connection=connection
                )
                if chosen
                else []
            )
            await connection.execute(update(table).where(table.c.id == 1).values(state=picker.state()))
        return [*claimed, *[None] * (len(tickets) - len(claimed))]

    async def _delivery(self, entry: QueueEntry) -> None:
        deliveries = self.engine.deliveries
        webhook_id = (entry.payload or b"").decode()
        delivery = await deliveries.get(webhook_id)
        if delivery is None or delivery.status != "pending":
            return
        if deliveries.sender is None:
            raise RuntimeError("webhook deliveries are not configured on this gateway")

        async def schedule(connection: AsyncConnection, item: str, at: float) -> None:
            await self.enqueue(connection, "delivery", [item], [entry.priority], at)

        now = self.engine.clock()
        ran = await deliveries.run(webhook_id, schedule)
        if ran is None:
            current = await deliveries.get(webhook_id)
            if current is not None and current.status == "pending" and current.attempts == delivery.attempts:
                # Not claimable (leased to a live worker, or not due): look again when it is.
                due = current.next_attempt_at or now
                later = due if due > now else now + self.engine.config.lease
                await self._later("delivery", webhook_id, entry.priority, later)


async def _nothing_to_reset(connection: Any) -> None:
    """A pooled connection goes back as PgQueuer's statements left it: they set no session state,
    so the round trip of asyncpg's default reset (``RESET ALL``, ``UNLISTEN *``…) would be one per
    statement for nothing (asyncpg still rolls back a transaction left open)."""
