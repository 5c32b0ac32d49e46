"""The usage ledger: one row per request, written off the hot path in batches, summed per key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate.errors import UserError
from claudegate.store._database import Database
from claudegate.store._usage_rollup import add_to_rollups, ensure_rollups

__all__ = ["UsageLedger", "UsageRecord", "UsageTotals", "UsageWriter", "period_bounds", "write_usage"]

logger = logging.getLogger("claudegate.store")

Period = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """What one request used and cost, as written to the ledger."""

    request_id: str
    key_id: str | None
    model: str
    deployment: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    status: int = 200
    dialect: str = "anthropic"
    stream: bool = False
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


_COLUMNS = tuple(column.name for column in fields(UsageRecord))


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Summed usage over a period."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost: float = 0.0


def period_bounds(period: Period, at: datetime) -> tuple[datetime, datetime]:
    """The UTC ``[start, end)`` of the calendar day or month containing ``at``."""
    day = at.astimezone(UTC).date()
    if period == "day":
        start = day
        end = day + timedelta(days=1)
    else:
        start = date(day.year, day.month, 1)
        end = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC),
    )


async def write_usage(
    connection: AsyncConnection, database: Database, records: Sequence[UsageRecord]
) -> None:
    """Write ``records`` to the ledger with their rollup sums, inside the caller's transaction
    (rows written with other state: a job's end, a batch's). ``ensure_rollups`` must have run for
    ``database`` before the transaction began."""
    if not records:
        return
    # Every field is immutable, so a shallow row does; ``asdict`` deep-copies each value.
    rows = [{name: getattr(record, name) for name in _COLUMNS} for record in records]
    await connection.execute(database.tables.usage.insert(), rows)
    await add_to_rollups(connection, database, records)


class UsageLedger:
    """Writes usage rows and answers per-key totals."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._table = database.tables.usage

    async def insert(self, records: list[UsageRecord]) -> None:
        """Write ``records`` in one transaction (one multi-row insert) with their rollup sums."""
        if not records:
            return
        await ensure_rollups(self._database)
        async with self._database.engine.begin() as connection:
            await write_usage(connection, self._database, records)

    async def totals(self, key_id: str, period: Period = "day", at: datetime | None = None) -> UsageTotals:
        """Usage of one key over the UTC day or month containing ``at`` (default: now)."""
        by_key = await self._sums(period, at, key_id)
        return by_key.get(key_id, UsageTotals())

    async def totals_by_key(
        self, period: Period = "day", at: datetime | None = None
    ) -> dict[str, UsageTotals]:
        """Usage of every key that made requests in the UTC day or month containing ``at``."""
        return await self._sums(period, at, None)

    async def _sums(self, period: Period, at: datetime | None, key_id: str | None) -> dict[str, UsageTotals]:
        start, end = period_bounds(period, at or datetime.now(UTC))
        column = self._table.c
        query = (
            select(
                column.key_id,
                func.count(),
                func.coalesce(func.sum(column.input_tokens), 0),
                func.coalesce(func.sum(column.output_tokens), 0),
                func.coalesce(func.sum(column.cache_write_tokens), 0),
                func.coalesce(func.sum(column.cache_read_tokens), 0),
                func.coalesce(func.sum(column.cost), 0.0),
            )
            .where(column.time >= start, column.time < end, column.key_id.is_not(None))
            .group_by(column.key_id)
        )
        if key_id is not None:
            query = query.where(column.key_id == key_id)
        async with self._database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {
            row[0]: UsageTotals(
                requests=int(row[1]),
                input_tokens=int(row[2]),
                output_tokens=int(row[3]),
                cache_write_tokens=int(row[4]),
                cache_read_tokens=int(row[5]),
                cost=float(row[6]),
            )
            for row in rows
        }


class UsageWriter:
    """Queues usage rows in memory and inserts them in batches from a background task.

    ``record`` never waits on the database. Rows are written every ``batch_size`` rows or every
    ``interval`` seconds, whichever comes first; ``flush`` and ``close`` write everything left, so
    a clean shutdown loses nothing. A failed insert keeps its rows queued for the next attempt.
    """

    def __init__(self, ledger: UsageLedger, *, batch_size: int = 100, interval: float = 0.5) -> None:
        if batch_size < 1 or interval <= 0:
            raise UserError("batch_size must be >= 1 and interval > 0")
        self._ledger = ledger
        self._batch_size = batch_size
        self._interval = interval
        self._pending: list[UsageRecord] = []
        self._wake = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Rows recorded but not yet written."""
        return len(self._pending)

    def record(self, record: UsageRecord) -> None:
        """Queue one row; returns at once (call from inside the running event loop)."""
        if self._closed:
            raise UserError("the usage writer is closed")
        self._pending.append(record)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="claudegate-usage-writer")
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Write every queued row now; raises if the database refuses them (they stay queued)."""
        async with self._write_lock:
            while self._pending:
                batch = self._pending[: self._batch_size]
                await self._ledger.insert(batch)
                del self._pending[: len(batch)]

    async def close(self) -> None:
        """Stop the background task and write everything left."""
        self._closed = True
        if self._task is not None:
            # Waking instead of cancelling: a cancelled insert could not tell whether it committed.
            self._wake.set()
            await self._task
            self._task = None
        await self.flush()

    async def __aenter__(self) -> UsageWriter:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                # The rows stay queued; the next tick (or close) retries them.
                logger.exception("writing %d usage rows failed; will retry", len(self._pending))
