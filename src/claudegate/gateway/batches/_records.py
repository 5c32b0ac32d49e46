"""The batch record in SQL: one row per batch beside its jobs (``group_id`` = the batch's id).

A batch is written with its jobs, in one transaction. Its end is one conditional write (``ended_at``
still unset) carrying what goes with it (output files, the webhook delivery), so whichever process
first sees the last job end ends the batch, once.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from sqlalchemy import Row

    from claudegate.store import Database

__all__ = ["Batch", "BatchApi", "BatchRecords", "Page", "is_batch_id", "new_batch_id"]

BatchApi = Literal["anthropic", "openai"]


def new_batch_id(api: BatchApi) -> str:
    """``msgbatch_…`` for a Message Batch, ``batch_…`` for an OpenAI batch."""
    return ("msgbatch_01" if api == "anthropic" else "batch_") + os.urandom(12).hex()


def is_batch_id(group_id: str) -> bool:
    """Whether a job group is a batch (other groups, an event's runs, are not looked up)."""
    return group_id.startswith(("msgbatch_", "batch_"))


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch as recorded. ``details`` holds what one API shows beyond the common fields (OpenAI's
    endpoint, input and output files, errors, metadata; an upstream hand-off's ids)."""

    id: str
    owner: str
    api: BatchApi
    created_at: float
    expires_at: float
    request_count: int
    cancel_initiated_at: float | None
    expired_at: float | None
    ended_at: float | None
    webhook_url: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of batches, in list order (newest first)."""

    batches: list[Batch]
    has_more: bool


class _Stale(Exception):
    """The change no longer applies: its transaction is rolled back."""


def _batch(row: Row[Any]) -> Batch:
    data = row._mapping
    return Batch(
        id=data["id"],
        owner=data["owner"],
        api=data["api"],
        created_at=data["created_at"],
        expires_at=data["expires_at"],
        request_count=data["request_count"],
        cancel_initiated_at=data["cancel_initiated_at"],
        expired_at=data["expired_at"],
        ended_at=data["ended_at"],
        webhook_url=data["webhook_url"],
        details=dict(data["details"] or {}),
    )


def batch_row(batch: Batch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "owner": batch.owner,
        "api": batch.api,
        "created_at": batch.created_at,
        "expires_at": batch.expires_at,
        "request_count": batch.request_count,
        "cancel_initiated_at": batch.cancel_initiated_at,
        "expired_at": batch.expired_at,
        "ended_at": batch.ended_at,
        "webhook_url": batch.webhook_url,
        "details": batch.details,
    }


class BatchRecords:
    """The batches table of one database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.table = database.tables.batches

    async def insert(self, connection: AsyncConnection, batch: Batch) -> None:
        await connection.execute(self.table.insert().values(**batch_row(batch)))

    async def add(self, batch: Batch) -> None:
        """Write a batch that has no jobs (an upstream hand-off, a batch failed at validation)."""
        async with self.database.engine.begin() as connection:
            await self.insert(connection, batch)

    async def get(self, batch_id: str, owner: str | None = None, api: BatchApi | None = None) -> Batch | None:
        """The batch, when it is ``owner``'s and of ``api`` (given)."""
        c = self.table.c
        query = select(self.table).where(c.id == batch_id)
        if owner is not None:
            query = query.where(c.owner == owner)
        if api is not None:
            query = query.where(c.api == api)
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return _batch(row) if row is not None else None

    async def page(
        self, owner: str, api: BatchApi, *, after: str | None, before: str | None, limit: int
    ) -> Page:
        """``owner``'s batches newest first: the ``limit`` just older than ``after``, or just newer
        than ``before``, or the newest. A cursor naming no batch of the owner gives an empty page."""
        table, c = self.table, self.table.c
        query = select(table).where(c.owner == owner, c.api == api)
        cursor_id = after or before
        newer = before is not None and after is None
        if cursor_id is not None:
            cursor = await self.get(cursor_id, owner, api)
            if cursor is None:
                return Page([], False)
            if newer:
                query = query.where(
                    or_(
                        c.created_at > cursor.created_at,
                        and_(c.created_at == cursor.created_at, c.id > cursor.id),
                    )
                )
            else:
                query = query.where(
                    or_(
                        c.created_at < cursor.created_at,
                        and_(c.created_at == cursor.created_at, c.id < cursor.id),
                    )
                )
        if newer:
            query = query.order_by(c.created_at.asc(), c.id.asc())
        else:
            query = query.order_by(c.created_at.desc(), c.id.desc())
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query.limit(limit + 1))).all()
        found = [_batch(row) for row in rows[:limit]]
        if newer:
            found.reverse()
        return Page(found, len(rows) > limit)

    async def recent(self, limit: int) -> list[Batch]:
        """Every owner's batches, of both APIs, newest first."""
        c = self.table.c
        query = select(self.table).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        async with self.database.engine.connect() as connection:
            return [_batch(row) for row in (await connection.execute(query)).all()]

    async def change(
        self,
        batch_id: str,
        values: dict[str, Any],
        *,
        unended: bool = True,
        unset: str | None = None,
        extra: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> bool:
        """Set ``values`` on the batch while it has not ended (and ``unset`` is still null), with
        ``extra``'s writes; False (nothing written) when it no longer applies."""
        c = self.table.c
        statement = update(self.table).where(c.id == batch_id)
        if unended:
            statement = statement.where(c.ended_at.is_(None))
        if unset is not None:
            statement = statement.where(c[unset].is_(None))
        try:
            async with self.database.engine.begin() as connection:
                result = await connection.execute(statement.values(**values))
                if cast(Any, result).rowcount != 1:
                    raise _Stale
                if extra is not None:
                    await extra(connection)
        except _Stale:
            return False
        return True

    async def unended(self, limit: int = 10_000) -> list[str]:
        """Ids of batches that have not ended, oldest first."""
        c = self.table.c
        query = select(c.id).where(c.ended_at.is_(None)).order_by(c.created_at).limit(limit)
        async with self.database.engine.connect() as connection:
            return [row[0] for row in (await connection.execute(query)).all()]

    async def delete(self, batch_id: str) -> None:
        async with self.database.engine.begin() as connection:
            await connection.execute(self.table.delete().where(self.table.c.id == batch_id))
