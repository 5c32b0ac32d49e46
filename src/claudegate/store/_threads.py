"""Message threads the gateway keeps: each thread's conversation, found by the reply a ``continue``
names, owned by one key, expiring a while after its last turn.

A thread the gateway holds itself keeps ``system``, ``tools`` and every message. A thread an
upstream holds (an Anthropic upstream with threads) keeps only its owner, its deployment and the
ids of its replies, so that it can be checked and pinned. Each thread has one head: the reply the
next ``continue`` names. A ``continue`` first *claims* the thread (one at a time, for a lease), then
``advance`` moves the head to the new reply and appends the turn, or ``release`` gives it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate.store._database import Database

__all__ = ["ClaimRefusal", "StoredThread", "ThreadEntry", "ThreadStore"]

ClaimRefusal = Literal["not_found", "already_continued", "in_flight"]
"""Why a thread could not be claimed: no live thread of this owner has the reply; the reply is not
the head any more; another request holds the claim."""


@dataclass(frozen=True, slots=True)
class ThreadEntry:
    """One stored message: its content (None for a thread an upstream holds) and, for a reply, its id."""

    message: dict[str, Any] | None
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredThread:
    """A claimed thread: where it stands and, when the gateway holds it, its conversation."""

    id: str
    owner: str
    head: str
    deployment: str | None
    """The deployment that holds the thread upstream; None when the gateway holds it."""
    system: Any
    tools: Any
    messages: tuple[dict[str, Any], ...]
    size: int
    """Bytes of ``system``, ``tools`` and messages (counted by the caller)."""
    length: int
    """Stored entries (the next one's position)."""


class ThreadStore:
    """Threads in a ``Database`` (SQLite or PostgreSQL), times read from ``clock``."""

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._database = database
        self._threads: Table = database.tables.threads
        self._messages: Table = database.tables.thread_messages
        self._clock = clock
        # SQLite takes one writer at a time anyway; in memory the whole database is one connection.
        self._lock: AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if database.dialect == "sqlite" else contextlib.nullcontext()
        )

    async def create(
        self,
        owner: str,
        head: str,
        *,
        deployment: str | None,
        system: Any,
        tools: Any,
        entries: Sequence[ThreadEntry],
        size: int,
        ttl: float,
    ) -> str:
        """Store a new thread whose head is ``head``; returns its id. A thread of the same owner
        with the same head (a replay answered with an id seen before) is replaced."""
        thread_id = "thr_" + secrets.token_hex(12)
        t = self._threads
        async with self._lock, self._database.engine.begin() as connection:
            stale = select(t.c.id).where(t.c.owner == owner, t.c.head == head)
            await self._delete(connection, stale)
            await connection.execute(
                insert(t).values(
                    id=thread_id,
                    owner=owner,
                    head=head,
                    deployment=deployment,
                    system=system,
                    tools=tools,
                    size=size,
                    length=len(entries),
                    expires_at=self._clock() + ttl,
                    claimed_until=None,
                )
            )
            await self._append(connection, thread_id, 0, entries)
        return thread_id

    async def claim(self, owner: str, message_id: str, *, lease: float) -> StoredThread | ClaimRefusal:
        """Claim the live thread of ``owner`` whose head is ``message_id`` for ``lease`` seconds."""
        t, now = self._threads, self._clock()
        claim = (
            update(t)
            .where(
                t.c.owner == owner,
                t.c.head == message_id,
                t.c.expires_at > now,
                or_(t.c.claimed_until.is_(None), t.c.claimed_until <= now),
            )
            .values(claimed_until=now + lease)
        )
        async with self._lock, self._database.engine.begin() as connection:
            if (await connection.execute(claim)).rowcount == 0:
                return await self._refusal(connection, owner, message_id, now)
            query = select(t).where(t.c.owner == owner, t.c.head == message_id)
            row = (await connection.execute(query)).mappings().one()
            m = self._messages
            stored = select(m.c.message).where(m.c.thread_id == row["id"]).order_by(m.c.position)
            messages = tuple(
                message for (message,) in (await connection.execute(stored)).all() if message is not None
            )
        return StoredThread(
            id=row["id"],
            owner=row["owner"],
            head=row["head"],
            deployment=row["deployment"],
            system=row["system"],
            tools=row["tools"],
            messages=messages,
            size=int(row["size"]),
            length=int(row["length"]),
        )

    async def _refusal(
        self, connection: AsyncConnection, owner: str, message_id: str, now: float
    ) -> ClaimRefusal:
        t, m = self._threads, self._messages
        held = select(t.c.id).where(t.c.owner == owner, t.c.head == message_id, t.c.expires_at > now)
        if (await connection.execute(held)).first() is not None:
            return "in_flight"
        earlier = (
            select(t.c.id)
            .select_from(m.join(t, m.c.thread_id == t.c.id))
            .where(m.c.message_id == message_id, t.c.owner == owner, t.c.expires_at > now)
        )
        if (await connection.execute(earlier)).first() is not None:
            return "already_continued"
        return "not_found"

    async def advance(
        self, thread: StoredThread, head: str, entries: Sequence[ThreadEntry], *, size: int, ttl: float
    ) -> bool:
        """Append ``entries``, make ``head`` the thread's head, free the claim and restart its
        lifetime; False when the thread moved on meanwhile (its claim had lapsed)."""
        t = self._threads
        moved = (
            update(t)
            .where(t.c.id == thread.id, t.c.head == thread.head)
            .values(
                head=head,
                size=size,
                length=thread.length + len(entries),
                expires_at=self._clock() + ttl,
                claimed_until=None,
            )
        )
        async with self._lock, self._database.engine.begin() as connection:
            if (await connection.execute(moved)).rowcount == 0:
                return False
            await self._append(connection, thread.id, thread.length, entries)
        return True

    async def release(self, thread: StoredThread) -> None:
        """Give a claimed thread back unchanged (its turn failed)."""
        t = self._threads
        freed = update(t).where(t.c.id == thread.id, t.c.head == thread.head).values(claimed_until=None)
        async with self._lock, self._database.engine.begin() as connection:
            await connection.execute(freed)

    async def owner_size(self, owner: str) -> int:
        """Bytes the live threads of ``owner`` hold."""
        t = self._threads
        query = select(func.coalesce(func.sum(t.c.size), 0)).where(
            t.c.owner == owner, t.c.expires_at > self._clock()
        )
        async with self._lock, self._database.engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def purge(self) -> None:
        """Delete threads that expired (up to 1,000 a call), and their messages."""
        t = self._threads
        expired = select(t.c.id).where(t.c.expires_at <= self._clock()).limit(1000)
        async with self._lock, self._database.engine.begin() as connection:
            await self._delete(connection, expired)

    async def _delete(self, connection: AsyncConnection, ids: Any) -> None:
        found = [thread_id for (thread_id,) in (await connection.execute(ids)).all()]
        if found:
            m, t = self._messages, self._threads
            await connection.execute(delete(m).where(m.c.thread_id.in_(found)))
            await connection.execute(delete(t).where(t.c.id.in_(found)))

    async def _append(
        self, connection: AsyncConnection, thread_id: str, start: int, entries: Sequence[ThreadEntry]
    ) -> None:
        if entries:
            rows = [
                {
                    "thread_id": thread_id,
                    "position": start + i,
                    "message_id": e.message_id,
                    "message": e.message,
                }
                for i, e in enumerate(entries)
            ]
            await connection.execute(insert(self._messages), rows)
