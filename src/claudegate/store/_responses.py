"""Stored OpenAI Responses: each response object with the conversation it ends, per owner, until
it expires (what ``previous_response_id`` and ``GET /v1/responses/{id}`` read)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, select

from claudegate.store._database import Database

__all__ = ["ResponseStore", "StoredResponse"]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One stored response: the object as answered, and the conversation (Anthropic messages,
    the answer included) that a response continuing it starts from."""

    id: str
    owner: str
    """The key id of whoever created it (``anonymous`` on an open gateway): only they may read it."""
    response: dict[str, Any]
    conversation: list[dict[str, Any]]
    created_at: datetime
    expires_at: datetime


class ResponseStore:
    """Responses in the SQL store (SQLite or PostgreSQL), read only by their owner, until they expire."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._table = database.tables.responses

    async def put(self, stored: StoredResponse) -> None:
        """Write (or overwrite) one response."""
        row = {
            "id": stored.id,
            "owner": stored.owner,
            "created_at": stored.created_at,
            "expires_at": stored.expires_at,
            "response": orjson.dumps(stored.response).decode(),
            "conversation": orjson.dumps(stored.conversation).decode(),
        }
        async with self._database.engine.begin() as connection:
            await connection.execute(delete(self._table).where(self._table.c.id == stored.id))
            await connection.execute(self._table.insert(), [row])

    async def get(self, response_id: str, owner: str, now: datetime) -> StoredResponse | None:
        """The response ``response_id`` of ``owner``, unless it expired (None: not theirs, or gone)."""
        column = self._table.c
        query = select(self._table).where(
            column.id == response_id, column.owner == owner, column.expires_at > now
        )
        async with self._database.engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        if row is None:
            return None
        return StoredResponse(
            id=row["id"],
            owner=row["owner"],
            response=orjson.loads(row["response"]),
            conversation=orjson.loads(row["conversation"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
        )

    async def delete(self, response_id: str, owner: str) -> bool:
        """Delete ``owner``'s response ``response_id``; False when there was none."""
        column = self._table.c
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                delete(self._table).where(column.id == response_id, column.owner == owner)
            )
        return bool(result.rowcount)

    async def purge(self, now: datetime) -> int:
        """Delete every response expired at ``now``; how many went."""
        async with self._database.engine.begin() as connection:
            result = await connection.execute(delete(self._table).where(self._table.c.expires_at <= now))
        return int(result.rowcount or 0)
