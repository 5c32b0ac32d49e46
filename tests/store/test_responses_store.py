"""Stored Responses in SQLite and PostgreSQL: read back whole, only by their owner, until they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from claudegate.store import Database, ResponseStore, StoredResponse

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def stored(response_id: str, owner: str = "key_a", ttl: float = 60) -> StoredResponse:
    return StoredResponse(
        id=response_id,
        owner=owner,
        response={
            "id": response_id,
            "object": "response",
            "output": [{"type": "message", "text": "café ☕"}],
        },
        conversation=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        created_at=NOW,
        expires_at=NOW + timedelta(seconds=ttl),
    )


async def test_a_response_comes_back_whole_to_its_owner_only(database: Database) -> None:
    store = ResponseStore(database)
    await store.put(stored("resp_1"))
    found = await store.get("resp_1", "key_a", NOW)
    assert found == stored("resp_1")
    assert await store.get("resp_1", "key_b", NOW) is None
    assert await store.delete("resp_1", "key_b") is False
    assert await store.delete("resp_1", "key_a") is True
    assert await store.get("resp_1", "key_a", NOW) is None


async def test_expired_responses_are_gone_and_purged(database: Database) -> None:
    store = ResponseStore(database)
    await store.put(stored("resp_short", ttl=10))
    await store.put(stored("resp_long", ttl=100))
    later = NOW + timedelta(seconds=20)
    assert await store.get("resp_short", "key_a", later) is None
    assert await store.get("resp_long", "key_a", later) is not None
    assert await store.purge(later) == 1
    assert await store.get("resp_short", "key_a", NOW) is None  # deleted, not only hidden
