"""One async SQLAlchemy Core engine for SQLite (WAL) or PostgreSQL, chosen by URL."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from claudegate.errors import UserError
from claudegate.store._schema import Tables, build_tables

__all__ = ["DEFAULT_DATABASE_URL", "Database"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///claudegate.db"
_SUPPORTED_DRIVERS = {"sqlite+aiosqlite", "postgresql+asyncpg"}
_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def _enable_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the usage writer insert while requests read keys; busy_timeout absorbs writer overlap.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _quiet_driver_logs() -> None:
    """aiosqlite logs each call with its SQL parameters at DEBUG (webhook secrets among them): its
    logger stays at INFO or above whatever the root logger's level, as SQLAlchemy's statements are
    logged with their parameters hidden (``hide_parameters``)."""
    driver = logging.getLogger("aiosqlite")
    if driver.level < logging.INFO:  # NOTSET too: the root logger may be set to DEBUG later
        driver.setLevel(logging.INFO)


class Database:
    """The durable store's connection: one engine and the tables, the same code for both databases.

    Example::

        db = await Database.connect("sqlite+aiosqlite:///claudegate.db")
        keys = KeyStore(db)
        ...
        await db.close()
    """

    def __init__(self, engine: AsyncEngine, tables: Tables) -> None:
        self.engine = engine
        self.tables = tables

    @classmethod
    async def connect(
        cls, url: str = DEFAULT_DATABASE_URL, *, table_prefix: str = "cg_", create_tables: bool = True
    ) -> Database:
        """Open the database at ``url`` and (by default) create any missing tables.

        ``sqlite+aiosqlite://`` (no path) is a database in memory, gone with the process.
        """
        parsed = make_url(url)
        if parsed.drivername not in _SUPPORTED_DRIVERS:
            raise UserError(
                f"unsupported database URL driver {parsed.drivername!r}; "
                f"use one of {sorted(_SUPPORTED_DRIVERS)}",
                field="url",
            )
        if not _PREFIX.match(table_prefix):
            raise UserError(f"invalid table prefix {table_prefix!r}", field="table_prefix")
        if parsed.drivername.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
            # An in-memory database lives in its one connection: every user shares it.
            engine = create_async_engine(parsed, poolclass=StaticPool, hide_parameters=True)
        else:
            engine = create_async_engine(
                parsed, pool_pre_ping=parsed.drivername.startswith("postgresql"), hide_parameters=True
            )
        if engine.dialect.name == "sqlite":
            _quiet_driver_logs()
            event.listen(engine.sync_engine, "connect", _enable_wal)
        database = cls(engine, build_tables(table_prefix))
        if create_tables:
            await database.create_tables()
        return database

    @property
    def dialect(self) -> str:
        """The database in use: ``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    async def create_tables(self) -> None:
        """Create the tables that do not exist yet (existing ones are left untouched)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(self.tables.metadata.create_all)

    async def drop_tables(self) -> None:
        """Drop this prefix's tables and everything in them."""
        async with self.engine.begin() as connection:
            await connection.run_sync(self.tables.metadata.drop_all)

    async def close(self) -> None:
        """Release every pooled connection."""
        await self.engine.dispose()
