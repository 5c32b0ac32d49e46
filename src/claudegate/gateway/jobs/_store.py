"""The job record in SQL: written before ``202``, claimed under a lease, ended once.

Every change of state is one conditional statement: a claim takes a job that is due (queued and
its time come, or running under a lease that expired); a heartbeat, an end or a retry holds only
while the writer still holds the lease (same worker, same attempt, still running), so a worker
that lost its lease (a pause, a partition) cannot end a job another worker has taken over, and a
job is ended exactly once. What goes with an end (the ledger row, the webhook delivery, the
queue's next entry) is written in the same transaction by ``extra``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Index, and_, bindparam, func, inspect, or_, select, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateIndex

from claudegate.gateway.jobs._model import PRIORITIES, TERMINAL, GroupCounts, Job

if TYPE_CHECKING:
    from sqlalchemy import Row, Table

    from claudegate.store import Database

__all__ = ["Change", "Extra", "ExtraMany", "JobStore"]

Extra = Callable[[AsyncConnection], Awaitable[None]]
"""More writes that commit (or roll back) with a change of state."""

ExtraMany = Callable[[AsyncConnection, list[int]], Awaitable[None]]
"""More writes that commit with several changes of state: given the indexes of those made."""


@dataclass(frozen=True, slots=True)
class Change:
    """A change of a job this worker holds: its id, the attempt it holds, the new values."""

    job_id: str
    attempt: int
    values: dict[str, Any]


_ACTIVE = ("queued", "running")


class _Lost(Exception):
    """The lease is no longer the writer's: the transaction is rolled back."""


@asynccontextmanager
async def _using(
    database: Database, connection: AsyncConnection | None, *, begin: bool = False
) -> AsyncIterator[AsyncConnection]:
    """``connection`` when the caller gives one (its transaction), else a connection of its own
    (in a transaction of its own with ``begin``)."""
    if connection is not None:
        yield connection
        return
    opened = database.engine.begin() if begin else database.engine.connect()
    async with opened as own:
        yield own


def _grouped(changes: Sequence[Change], indexes: Iterable[int]) -> list[list[dict[str, Any]]]:
    """The rows of an executemany ``UPDATE`` per set of columns changed (``b_id``, ``b_attempt``:
    the job and the attempt held)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for index in indexes:
        change = changes[index]
        groups.setdefault(tuple(sorted(change.values)), []).append(
            {"b_id": change.job_id, "b_attempt": change.attempt, "lease_owner": None, **change.values}
        )
    return list(groups.values())


def _job(row: Row[Any]) -> Job:
    data = row._mapping
    return Job(
        id=data["id"],
        owner=data["owner"],
        dialect=data["dialect"],
        request=data["request"],
        priority=data["priority"],
        status=data["status"],
        attempts=data["attempts"],
        created_at=data["created_at"],
        next_attempt_at=data["next_attempt_at"],
        started_at=data["started_at"],
        finished_at=data["finished_at"],
        group_id=data["group_id"],
        custom_id=data["custom_id"],
        result=data["result"],
        usage=data["usage"],
        cost=data["cost"],
        error=data["error"],
        webhook_url=data["webhook_url"],
        metadata=data["job_metadata"],
        caller=data["principal"],
    )


class JobStore:
    """The jobs table of one database (see the module docstring)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.table: Table = database.tables.jobs

    async def ensure_indexes(self) -> None:
        """Create the indexes a table made by an older version lacks (``create_all`` adds tables,
        not indexes to a table that exists)."""

        def missing(connection: Connection) -> list[Index]:
            found = {index["name"] for index in inspect(connection).get_indexes(self.table.name)}
            return [index for index in self.table.indexes if index.name not in found]

        async with self.database.engine.connect() as connection:
            absent = await connection.run_sync(missing)
        for index in absent:
            try:
                async with self.database.engine.begin() as connection:
                    await connection.execute(CreateIndex(index, if_not_exists=True))
            except DBAPIError:
                async with self.database.engine.connect() as connection:
                    if index in await connection.run_sync(missing):
                        raise
                # another process created it at the same moment

    async def insert(self, rows: Sequence[dict[str, Any]], extra: Extra | None = None) -> None:
        """Write new jobs (one transaction, committed when this returns)."""
        async with self.database.engine.begin() as connection:
            await connection.execute(self.table.insert(), list(rows))
            if extra is not None:
                await extra(connection)

    async def get(self, job_id: str) -> Job | None:
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(select(self.table).where(self.table.c.id == job_id))).first()
        return _job(row) if row is not None else None

    async def page(
        self, *, owner: str | None = None, group_id: str | None = None, after: Job | None = None, limit: int
    ) -> list[Job]:
        """An owner's jobs newest first, or a group's in submission order; ``after`` the cursor."""
        table = self.table
        query = select(table)
        if owner is not None:
            query = query.where(table.c.owner == owner)
            order = (table.c.created_at.desc(), table.c.id.desc())
            if after is not None:
                query = query.where(
                    or_(
                        table.c.created_at < after.created_at,
                        and_(table.c.created_at == after.created_at, table.c.id < after.id),
                    )
                )
        else:
            query = query.where(table.c.group_id == group_id)
            order = (table.c.created_at.asc(), table.c.id.asc())
            if after is not None:
                query = query.where(
                    or_(
                        table.c.created_at > after.created_at,
                        and_(table.c.created_at == after.created_at, table.c.id > after.id),
                    )
                )
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query.order_by(*order).limit(limit))).all()
        return [_job(row) for row in rows]

    async def recent(self, limit: int) -> list[Job]:
        """Every owner's jobs of no group (``/v1/jobs``), newest first."""
        table = self.table
        query = select(table).where(table.c.group_id.is_(None))
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_job(row) for row in rows]

    async def counts(self, group_id: str) -> GroupCounts:
        table = self.table
        query = (
            select(table.c.status, func.count()).where(table.c.group_id == group_id).group_by(table.c.status)
        )
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return GroupCounts(**{status: count for status, count in rows})

    async def counts_many(self, group_ids: Sequence[str]) -> dict[str, GroupCounts]:
        """``counts`` of several groups in one statement (a group with no jobs is left out)."""
        if not group_ids:
            return {}
        table = self.table
        query = (
            select(table.c.group_id, table.c.status, func.count())
            .where(table.c.group_id.in_(list(group_ids)))
            .group_by(table.c.group_id, table.c.status)
        )
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        found: dict[str, dict[str, int]] = {}
        for group_id, status, count in rows:
            found.setdefault(group_id, {})[status] = count
        return {group_id: GroupCounts(**counts) for group_id, counts in found.items()}

    async def heads(self, group_ids: Sequence[str], limit: int) -> dict[str, list[Job]]:
        """The first ``limit`` jobs of each group (submission order), in one statement."""
        if not group_ids:
            return {}
        table = self.table
        rank = (
            func.row_number()
            .over(partition_by=table.c.group_id, order_by=(table.c.created_at.asc(), table.c.id.asc()))
            .label("rank")
        )
        ranked = select(table, rank).where(table.c.group_id.in_(list(group_ids))).subquery()
        query = select(ranked).where(ranked.c.rank <= limit).order_by(ranked.c.group_id, ranked.c.rank)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        found: dict[str, list[Job]] = {group_id: [] for group_id in group_ids}
        for row in rows:
            job = _job(row)
            found[cast(str, job.group_id)].append(job)
        return found

    async def due_by_priority(
        self,
        now: float,
        limit: int,
        skip_owners: Sequence[str] = (),
        *,
        connection: AsyncConnection | None = None,
    ) -> dict[int, list[tuple[str, str]]]:
        """Of each priority rank, (id, owner) of up to ``limit`` jobs a worker may claim now, the
        longest due first (one statement; in ``connection``'s transaction when given)."""
        c = self.table.c
        parts = []
        for rank in sorted(PRIORITIES.values(), reverse=True):
            query = (
                select(c.id, c.owner, c.priority, c.next_attempt_at)
                .where(self._claimable(now) & (c.priority == rank))
                .order_by(c.next_attempt_at)
                .limit(limit)
            )
            if skip_owners:
                query = query.where(c.owner.not_in(list(skip_owners)))
            parts.append(select(query.subquery()))
        async with _using(self.database, connection) as running:
            rows = (await running.execute(union_all(*parts))).all()
        found: dict[int, list[tuple[str, str]]] = {}
        for job_id, owner, rank, _ in sorted(rows, key=lambda row: (-row[2], row[3])):
            found.setdefault(rank, []).append((job_id, owner))
        return found

    async def next_due(self) -> float | None:
        """When the next queued job comes due or the next lease expires (None: nothing pending)."""
        table = self.table
        queued = select(func.min(table.c.next_attempt_at)).where(table.c.status == "queued")
        leased = select(func.min(table.c.lease_until)).where(table.c.status == "running")
        async with self.database.engine.connect() as connection:
            times = [(await connection.execute(query)).scalar() for query in (queued, leased)]
        present = [time for time in times if time is not None]
        return min(present) if present else None

    def _claimable(self, now: float) -> Any:
        c = self.table.c
        return or_(
            and_(c.status == "queued", c.next_attempt_at <= now),
            and_(c.status == "running", c.lease_until < now),
        )

    async def claim(self, job_id: str, worker: str, now: float, lease: float) -> Job | None:
        """Take ``job_id`` for one attempt when it is due; None when it is not (or not there)."""
        claimed = await self.claim_many([job_id], worker, now, lease)
        return claimed[0] if claimed else None

    async def claim_many(
        self,
        ids: Sequence[str],
        worker: str,
        now: float,
        lease: float,
        *,
        connection: AsyncConnection | None = None,
    ) -> list[Job]:
        """Take those of ``ids`` that are due, each for one attempt (one statement; in
        ``connection``'s transaction when given)."""
        table, c = self.table, self.table.c
        statement = (
            update(table)
            .where(c.id.in_(list(ids)), self._claimable(now))
            .values(
                status="running",
                attempts=c.attempts + 1,
                lease_owner=worker,
                lease_until=now + lease,
                started_at=func.coalesce(c.started_at, now),
            )
            .returning(*table.c)
        )
        async with _using(self.database, connection, begin=True) as running:
            rows = (await running.execute(statement)).all()
        return [_job(row) for row in rows]

    def _held(self, job_id: str, worker: str, attempt: int) -> Any:
        c = self.table.c
        return and_(c.id == job_id, c.lease_owner == worker, c.attempts == attempt, c.status == "running")

    async def renew(self, held: Sequence[tuple[str, int]], worker: str, until: float) -> set[str]:
        """Extend the leases of the (id, attempt) pairs this worker runs; the ids it still holds."""
        if not held:
            return set()
        c = self.table.c
        condition = or_(*(self._held(job_id, worker, attempt) for job_id, attempt in held))
        statement = update(self.table).where(condition).values(lease_until=until).returning(c.id)
        async with self.database.engine.begin() as connection:
            return {row[0] for row in (await connection.execute(statement)).all()}

    async def transition_many(
        self, worker: str, changes: Sequence[Change], extra: ExtraMany | None = None
    ) -> list[bool]:
        """Make those of ``changes`` whose lease is still ``worker``'s, with ``extra``, in one
        transaction; for each change, whether it was made."""
        if self.database.dialect == "sqlite" and len(changes) > 1:
            try:
                return await self._all_held(worker, changes, extra)
            except _Lost:
                pass  # a lease was lost: nothing was written, each change is tried on its own below
        async with self.database.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                made = await self._locked_changes(connection, worker, changes)
            else:
                made = []
                for index, change in enumerate(changes):
                    statement = (
                        update(self.table)
                        .where(self._held(change.job_id, worker, change.attempt))
                        .values(lease_owner=None, **change.values)
                    )
                    if cast(Any, await connection.execute(statement)).rowcount == 1:
                        made.append(index)
            if made and extra is not None:
                await extra(connection, made)
        chosen = set(made)
        return [index in chosen for index in range(len(changes))]

    async def _all_held(self, worker: str, changes: Sequence[Change], extra: ExtraMany | None) -> list[bool]:
        """SQLite: every change at once (one statement per set of columns, each row still
        conditional on its lease), kept only when every row was changed; ``_Lost`` (rolled back)
        when a lease was not the worker's. SQLite has one writer at a time: once the first
        statement wrote, nobody changes a row before the commit."""
        c = self.table.c
        async with self.database.engine.begin() as connection:
            for rows in _grouped(changes, range(len(changes))):
                statement = update(self.table).where(
                    c.id == bindparam("b_id"),
                    c.lease_owner == worker,
                    c.attempts == bindparam("b_attempt"),
                    c.status == "running",
                )
                if cast(Any, await connection.execute(statement, rows)).rowcount != len(rows):
                    raise _Lost
            if extra is not None:
                await extra(connection, list(range(len(changes))))
        return [True] * len(changes)

    async def _locked_changes(
        self, connection: AsyncConnection, worker: str, changes: Sequence[Change]
    ) -> list[int]:
        """PostgreSQL: lock the rows ``worker`` still holds (no one changes them before the
        commit), then change them with one statement per set of columns; the indexes made."""
        c = self.table.c
        held_query = (
            select(c.id, c.attempts)
            .where(
                c.id.in_([change.job_id for change in changes]),
                c.lease_owner == worker,
                c.status == "running",
            )
            .order_by(c.id)
            .with_for_update()
        )
        held = {(row[0], row[1]) for row in (await connection.execute(held_query)).all()}
        made = [index for index, change in enumerate(changes) if (change.job_id, change.attempt) in held]
        for rows in _grouped(changes, made):
            for row in rows:
                del row["b_attempt"]
            await connection.execute(update(self.table).where(c.id == bindparam("b_id")), rows)
        return made

    async def cancel(
        self, condition: Any, now: float, extra: Callable[[AsyncConnection, list[Job]], Awaitable[None]]
    ) -> list[Job]:
        """Cancel the unfinished jobs matching ``condition``; the jobs canceled, as they are now."""
        c = self.table.c
        statement = (
            update(self.table)
            .where(condition, c.status.in_(_ACTIVE))
            .values(status="canceled", finished_at=now, lease_owner=None, lease_until=None)
            .returning(*self.table.c)
        )
        async with self.database.engine.begin() as connection:
            jobs = [_job(row) for row in (await connection.execute(statement)).all()]
            if jobs:
                await extra(connection, jobs)
        return jobs

    async def delete_group(self, group_id: str) -> int:
        """Remove a group's ended jobs (and their deliveries); how many were removed."""
        c = self.table.c
        deliveries = self.database.tables.job_deliveries
        ended = select(c.id).where(c.group_id == group_id, c.status.in_(list(TERMINAL)))
        async with self.database.engine.begin() as connection:
            await connection.execute(deliveries.delete().where(deliveries.c.job_id.in_(ended)))
            result = await connection.execute(
                self.table.delete().where(c.group_id == group_id, c.status.in_(list(TERMINAL)))
            )
        return int(cast(Any, result).rowcount)
