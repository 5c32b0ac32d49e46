from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from claudegate.store import Counters, Database, MemoryCounters

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The same tests against a SQLite temp file and the real PostgreSQL, each in its own tables."""
    prefix = f"t{secrets.token_hex(6)}_"
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else POSTGRES_URL
    db = await Database.connect(url, table_prefix=prefix)
    try:
        yield db
    finally:
        await db.drop_tables()
        await db.close()


@pytest.fixture(params=["memory"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    """The same counter tests against every backend."""
    backend = MemoryCounters()
    try:
        yield backend
    finally:
        await backend.close()
