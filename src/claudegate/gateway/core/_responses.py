"""The gateway's stored Responses (``store: true``): what ``previous_response_id`` continues and
``GET /v1/responses/{id}`` returns, kept per caller until they expire.

They live in the durable store when there is one (``storage.database_url``, or the key database
of ``auth``: SQLite, or PostgreSQL shared by every replica); without one, in an in-memory SQLite
database that lasts as long as the process. Either is opened on first use, so a gateway that never
serves a stored response never opens it. A response belongs to the key that created it: any other
caller gets the same 404 as for an id that never existed. Expired responses are purged at most
once an hour, by the next write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from claudegate.gateway.core._errors import GatewayError, shown

if TYPE_CHECKING:
    from claudegate.gateway._config import GatewayConfig
    from claudegate.gateway.core._policies import Policies
    from claudegate.store import Database, ResponseStore, StoredResponse

__all__ = ["ResponseHistory"]

_PURGE_EVERY = 3600.0
_IN_MEMORY = "sqlite+aiosqlite://"  # one connection (SQLAlchemy's StaticPool): one database


def not_found(response_id: str, param: str | None = None) -> GatewayError:
    """OpenAI's answer for a response that does not exist (or is another caller's)."""
    return GatewayError(404, "not_found_error", f"Response with id '{shown(response_id)}' not found.", param)


class ResponseHistory:
    """Stored responses of one gateway (see the module docstring)."""

    def __init__(
        self,
        config: Callable[[], GatewayConfig],
        policies: Callable[[], Policies | None],
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._policies = policies
        self._clock = clock
        self._store: ResponseStore | None = None
        self._own: Database | None = None
        self._lock = asyncio.Lock()
        self._purged_at = 0.0

    async def _open(self) -> ResponseStore:
        store = self._store
        if store is not None:
            return store
        async with self._lock:
            if self._store is None:
                from claudegate.store import Database, ResponseStore

                policies = self._policies()
                database = policies.database if policies is not None else None
                if database is None:
                    storage = self._config().storage
                    url = storage.database_url if storage is not None else _IN_MEMORY
                    prefix = storage.table_prefix if storage is not None else "cg_"
                    database = self._own = await Database.connect(url, table_prefix=prefix)
                self._store = ResponseStore(database)
            return self._store

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def save(self, owner: str, response: dict[str, Any], conversation: list[dict[str, Any]]) -> None:
        """Keep ``response`` (and the conversation it ends) for ``owner`` until it expires."""
        from claudegate.store import StoredResponse

        store = await self._open()
        now = self._now()
        ttl = self._config().gateway.response_ttl
        stored = StoredResponse(
            response["id"], owner, response, conversation, now, now + timedelta(seconds=ttl)
        )
        await store.put(stored)
        if self._clock() - self._purged_at >= _PURGE_EVERY:
            self._purged_at = self._clock()
            await store.purge(now)

    async def load(self, response_id: str, owner: str, param: str | None = None) -> StoredResponse:
        """``owner``'s stored response ``response_id``, or the 404 (``param`` names the field)."""
        store = await self._open()
        stored = await store.get(response_id, owner, self._now())
        if stored is None:
            raise not_found(response_id, param)
        return stored

    async def delete(self, response_id: str, owner: str) -> None:
        """Forget ``owner``'s response ``response_id``, or the 404."""
        store = await self._open()
        if not await store.delete(response_id, owner):
            raise not_found(response_id)

    async def close(self) -> None:
        """Release the database this opened itself (the policies close theirs)."""
        if self._own is not None:
            await self._own.close()
            self._own = None
        self._store = None
