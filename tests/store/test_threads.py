"""The thread store on SQLite (a file, and in memory) and PostgreSQL: claims, turns, owners, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from claudegate.store import Database, StoredThread, ThreadEntry, ThreadStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


USER = {"role": "user", "content": "Use get_weather for Paris."}
REPLY = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
}
RESULT = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}


async def new_thread(store: ThreadStore, owner: str = "key_a", head: str = "msg_1") -> str:
    return await store.create(
        owner,
        head,
        deployment=None,
        system="be brief",
        tools=[{"name": "get_weather"}],
        entries=[ThreadEntry(USER), ThreadEntry(REPLY, head)],
        size=100,
        ttl=300,
    )


async def test_a_claimed_thread_gives_back_its_conversation_and_moves_to_the_new_reply(
    database: Database,
) -> None:
    store = ThreadStore(database, clock=Clock())
    await new_thread(store)
    claimed = await store.claim("key_a", "msg_1", lease=60)
    assert isinstance(claimed, StoredThread)
    assert (claimed.system, claimed.tools, claimed.messages) == (
        "be brief",
        [{"name": "get_weather"}],
        (USER, REPLY),
    )
    final = {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]}
    assert await store.advance(
        claimed, "msg_2", [ThreadEntry(RESULT), ThreadEntry(final, "msg_2")], size=180, ttl=300
    )
    again = await store.claim("key_a", "msg_2", lease=60)
    assert isinstance(again, StoredThread)
    assert again.messages == (USER, REPLY, RESULT, final) and again.size == 180 and again.length == 4
    assert await store.claim("key_a", "msg_1", lease=60) == "already_continued"


async def test_one_continue_at_a_time_until_released_or_the_lease_lapses(database: Database) -> None:
    clock = Clock()
    store = ThreadStore(database, clock=clock)
    await new_thread(store)
    claimed = await store.claim("key_a", "msg_1", lease=60)
    assert isinstance(claimed, StoredThread)
    assert await store.claim("key_a", "msg_1", lease=60) == "in_flight"
    await store.release(claimed)
    assert isinstance(await store.claim("key_a", "msg_1", lease=60), StoredThread)
    clock.now += 61  # a crashed replica's claim lapses
    assert isinstance(await store.claim("key_a", "msg_1", lease=60), StoredThread)


async def test_another_owner_and_an_expired_thread_are_not_found(database: Database) -> None:
    clock = Clock()
    store = ThreadStore(database, clock=clock)
    await new_thread(store)
    assert await store.claim("key_b", "msg_1", lease=60) == "not_found"
    assert await store.owner_size("key_a") == 100 and await store.owner_size("key_b") == 0
    clock.now += 301
    assert await store.claim("key_a", "msg_1", lease=60) == "not_found"
    assert await store.owner_size("key_a") == 0
    await store.purge()
    async with database.engine.connect() as connection:
        from sqlalchemy import func, select

        left = (
            await connection.execute(select(func.count()).select_from(database.tables.thread_messages))
        ).scalar()
    assert left == 0


async def test_a_create_with_a_head_seen_before_replaces_that_thread(database: Database) -> None:
    store = ThreadStore(database, clock=Clock())
    await new_thread(store)
    await store.create(
        "key_a", "msg_1", deployment="up", system=None, tools=None, entries=[], size=0, ttl=300
    )
    claimed = await store.claim("key_a", "msg_1", lease=60)
    assert isinstance(claimed, StoredThread) and claimed.deployment == "up" and claimed.messages == ()


@pytest.fixture
async def in_memory() -> AsyncIterator[Database]:
    db = await Database.connect("sqlite+aiosqlite://")
    try:
        yield db
    finally:
        await db.close()


async def test_an_in_memory_database_serves_concurrent_turns(in_memory: Database) -> None:
    store = ThreadStore(in_memory, clock=Clock())
    heads = [f"msg_{i}" for i in range(20)]
    await asyncio.gather(*(new_thread(store, head=head) for head in heads))
    claims = await asyncio.gather(*(store.claim("key_a", head, lease=60) for head in heads))
    assert all(isinstance(claim, StoredThread) for claim in claims)
    assert await store.owner_size("key_a") == 2000
