from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from claudegate.store import Counters, Database, MemoryCounters, RedisCounters

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


REDIS_URL = "redis://127.0.0.1:6379/0"


async def delete_prefixed_keys(prefix: str) -> None:
    client: Redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{{{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    prefix = f"cgtest{secrets.token_hex(6)}"
    yield prefix
    await delete_prefixed_keys(prefix)


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[Counters]:
    """The same counter tests against every backend (Redis for real, on loopback)."""
    backend: Counters
    if request.param == "memory":
        backend = MemoryCounters()
    else:
        backend = RedisCounters.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        yield backend
    finally:
        await backend.close()
