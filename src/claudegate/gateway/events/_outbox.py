"""Result events on their way to the broker: an outbox, so that a crash loses none.

With ``events.nats.emit_prefix``, the end of each processed run writes a row here in the same
transaction (the job engine's ``end_writes``). The process that ended the run publishes its result
event at once and removes the row once JetStream has acknowledged it; rows that a crash, a
shutdown or an unreachable broker left behind are published again by ``sweep`` (at start, then
every few seconds). A result event is thus published at least once, and JetStream keeps one copy of
it within its duplicate window: its id is the message's ``Nats-Msg-Id``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate.gateway.jobs import Job
from claudegate.gateway.jobs._batch import Batcher

if TYPE_CHECKING:
    from claudegate.store import Database

__all__ = ["ResultOutbox"]

_PAGE = 500


class ResultOutbox:
    """The result events of one gateway still to be published (see the module docstring)."""

    def __init__(
        self,
        database: Database,
        clock: Callable[[], float],
        publish: Callable[[dict[str, Any]], Awaitable[None]],
        group_prefix: str,
    ) -> None:
        self.database = database
        self.clock = clock
        self.publish = publish
        self.group_prefix = group_prefix
        self._removals = Batcher(self._remove, limit=_PAGE, lanes=1)

    def _sent(self, job: Job) -> bool:
        return (
            job.status == "succeeded"
            and job.result is not None
            and (job.group_id or "").startswith(self.group_prefix)
        )

    async def write(self, connection: AsyncConnection, jobs: list[Job]) -> None:
        """In the transaction that ends ``jobs``: a row for each processed event run among them."""
        now = self.clock()
        rows = [{"job_id": job.id, "created_at": now} for job in jobs if self._sent(job)]
        if rows:
            await connection.execute(self.database.tables.event_outbox.insert(), rows)

    async def send(self, job: Job) -> None:
        """Publish the result of a run this process just ended; its row goes once the broker took
        it (a failure leaves it to ``sweep``)."""
        if not self._sent(job):
            return
        assert job.result is not None
        await self.publish(job.result)
        await self._removals(job.id)

    async def sweep(self, before: float | None = None) -> int:
        """Publish the result events still waiting (those written before ``before``); how many."""
        outbox, jobs = self.database.tables.event_outbox, self.database.tables.jobs
        query = (
            select(outbox.c.job_id, jobs.c.result)
            .select_from(outbox.outerjoin(jobs, jobs.c.id == outbox.c.job_id))
            .order_by(outbox.c.created_at)
            .limit(_PAGE)
        )
        if before is not None:
            query = query.where(outbox.c.created_at < before)
        sent = 0
        while True:
            async with self.database.engine.connect() as connection:
                rows = (await connection.execute(query)).all()
            if not rows:
                return sent
            await asyncio.gather(*(self.publish(result) for _, result in rows if result is not None))
            await self._remove([job_id for job_id, _ in rows])
            sent += len(rows)

    async def close(self) -> None:
        await self._removals.close()

    async def _remove(self, job_ids: list[str]) -> list[None]:
        outbox = self.database.tables.event_outbox
        async with self.database.engine.begin() as connection:
            await connection.execute(outbox.delete().where(outbox.c.job_id.in_(job_ids)))
        return [None] * len(job_ids)
