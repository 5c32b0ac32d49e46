"""What webhooks keep: each owner's signing secrets and the endpoints a ``410 Gone`` disabled.

``SqlWebhookStore`` keeps them in the gateway's database (SQLite or PostgreSQL), so every replica
and the ``claudegate webhooks secret`` command see the same; ``MemoryWebhookStore`` keeps them in
the process when the gateway has no database. Secrets are stored as they are (they sign, so they
cannot be hashed): the database is trusted like the configuration.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from claudegate.gateway.webhooks._signing import SigningSecret

if TYPE_CHECKING:
    from claudegate.store import Database

__all__ = ["MemoryWebhookStore", "SqlWebhookStore", "WebhookStore", "url_digest"]


def url_digest(url: str) -> str:
    """The key an endpoint is kept under (URLs can be longer than an index allows)."""
    return hashlib.sha256(url.encode()).hexdigest()


class WebhookStore(Protocol):
    async def rotate(self, owner: str, secret: str, now: datetime, overlap: float) -> datetime | None:
        """Make ``secret`` the owner's current one; the previous current one signs for ``overlap``
        seconds more (returned: until when, None when there was none)."""
        ...

    async def secrets(self, owner: str, now: datetime) -> list[SigningSecret]:
        """The owner's secrets signing at ``now``, newest first (empty: none of its own)."""
        ...

    async def disable(self, owner: str, url: str, status: int, now: datetime) -> None: ...

    async def enable(self, owner: str, url: str) -> bool: ...

    async def disabled(self, owner: str, url: str) -> bool: ...


class MemoryWebhookStore:
    """Secrets and disabled endpoints in this process (gone at exit)."""

    def __init__(self) -> None:
        self._secrets: dict[str, list[SigningSecret]] = {}
        self._disabled: set[tuple[str, str]] = set()

    async def rotate(self, owner: str, secret: str, now: datetime, overlap: float) -> datetime | None:
        until = now + timedelta(seconds=overlap)
        kept, previous_until = [], None
        for old in self._secrets.get(owner, []):
            if old.expires_at is None:
                old, previous_until = SigningSecret(old.value, old.created_at, until), until
            if old.expires_at is not None and old.expires_at > now:
                kept.append(old)
        self._secrets[owner] = [SigningSecret(secret, now, None), *kept]
        return previous_until

    async def secrets(self, owner: str, now: datetime) -> list[SigningSecret]:
        return [s for s in self._secrets.get(owner, []) if s.expires_at is None or s.expires_at > now]

    async def disable(self, owner: str, url: str, status: int, now: datetime) -> None:
        self._disabled.add((owner, url))

    async def enable(self, owner: str, url: str) -> bool:
        if (owner, url) not in self._disabled:
            return False
        self._disabled.discard((owner, url))
        return True

    async def disabled(self, owner: str, url: str) -> bool:
        return (owner, url) in self._disabled


class SqlWebhookStore:
    """Secrets and disabled endpoints in the gateway's database."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._secrets = database.tables.webhook_secrets
        self._endpoints = database.tables.webhook_endpoints

    async def rotate(self, owner: str, secret: str, now: datetime, overlap: float) -> datetime | None:
        column = self._secrets.c
        until = now + timedelta(seconds=overlap)
        async with self._database.engine.begin() as connection:
            current = and_(column.owner == owner, column.expires_at.is_(None))
            replaced = await connection.execute(update(self._secrets).where(current).values(expires_at=until))
            # Secrets past their overlap sign nothing any more: no reason to keep them.
            await connection.execute(
                delete(self._secrets).where(column.owner == owner, column.expires_at <= now)
            )
            await connection.execute(
                insert(self._secrets).values(owner=owner, secret=secret, created_at=now, expires_at=None)
            )
        return until if replaced.rowcount else None

    async def secrets(self, owner: str, now: datetime) -> list[SigningSecret]:
        column = self._secrets.c
        query = (
            select(column.secret, column.created_at, column.expires_at)
            .where(column.owner == owner, or_(column.expires_at.is_(None), column.expires_at > now))
            .order_by(column.id.desc())
        )
        async with self._database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [SigningSecret(row.secret, row.created_at, row.expires_at) for row in rows]

    async def disable(self, owner: str, url: str, status: int, now: datetime) -> None:
        column, digest = self._endpoints.c, url_digest(url)
        try:
            async with self._database.engine.begin() as connection:
                await connection.execute(
                    delete(self._endpoints).where(column.owner == owner, column.url_digest == digest)
                )
                await connection.execute(
                    insert(self._endpoints).values(
                        owner=owner, url_digest=digest, url=url, disabled_at=now, status=status
                    )
                )
        except IntegrityError:
            pass  # another replica disabled it at the same moment: disabled either way

    async def enable(self, owner: str, url: str) -> bool:
        column = self._endpoints.c
        async with self._database.engine.begin() as connection:
            result = await connection.execute(
                delete(self._endpoints).where(column.owner == owner, column.url_digest == url_digest(url))
            )
        return bool(result.rowcount)

    async def disabled(self, owner: str, url: str) -> bool:
        column = self._endpoints.c
        query = select(column.owner).where(column.owner == owner, column.url_digest == url_digest(url))
        async with self._database.engine.connect() as connection:
            return (await connection.execute(query)).first() is not None
