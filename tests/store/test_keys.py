from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from claudegate.errors import UserError
from claudegate.store import Database, KeyBudget, KeyLimits, KeyStore, hash_key


async def all_stored_text(database: Database) -> str:
    table = database.tables.api_keys
    async with database.engine.connect() as connection:
        rows = (await connection.execute(select(table))).all()
    return repr(rows)


async def test_a_created_key_authenticates_and_its_plaintext_is_never_stored(database: Database) -> None:
    store = KeyStore(database)
    created = await store.create("ci runner")
    assert created.plaintext.startswith("cg-")
    assert len(created.plaintext) >= 3 + 32
    assert created.key.prefix == created.plaintext[: len(created.key.prefix)]
    stored = await all_stored_text(database)
    assert created.plaintext not in stored
    assert created.plaintext[len(created.key.prefix) :] not in stored
    assert hash_key(created.plaintext) in stored
    found = await store.lookup(created.plaintext)
    assert found is not None
    assert found.id == created.key.id
    assert found.name == "ci runner"


async def test_unknown_or_altered_keys_do_not_authenticate(database: Database) -> None:
    store = KeyStore(database)
    created = await store.create("a")
    altered = created.plaintext[:-1] + ("A" if created.plaintext[-1] != "A" else "B")
    assert await store.lookup(altered) is None
    assert await store.lookup("sk-not-ours") is None
    assert await store.lookup("") is None


async def test_the_pepper_changes_the_stored_hash_and_is_needed_to_authenticate(database: Database) -> None:
    peppered = KeyStore(database, pepper="deployment secret")
    created = await peppered.create("peppered")
    stored = await all_stored_text(database)
    assert hash_key(created.plaintext) not in stored
    assert hash_key(created.plaintext, b"deployment secret") in stored
    assert await peppered.lookup(created.plaintext) is not None
    assert await KeyStore(database).lookup(created.plaintext) is None


async def test_revoked_keys_stop_authenticating_but_stay_listed(database: Database) -> None:
    store = KeyStore(database)
    kept = await store.create("kept")
    gone = await store.create("gone")
    revoked = await store.revoke(gone.key.id)
    assert revoked.revoked_at is not None
    assert not revoked.active
    assert await store.lookup(gone.plaintext) is None
    assert await store.lookup(kept.plaintext) is not None
    again = await store.revoke(gone.key.id)
    assert again.revoked_at == revoked.revoked_at
    assert [key.id for key in await store.list()] == [kept.key.id, gone.key.id]
    assert [key.id for key in await store.list(include_revoked=False)] == [kept.key.id]
    with pytest.raises(UserError):
        await store.revoke("key_missing")


async def test_models_limits_budget_and_admin_are_stored(database: Database) -> None:
    store = KeyStore(database)
    limits = KeyLimits(
        requests_per_minute=60,
        input_tokens_per_minute=10_000,
        output_tokens_per_minute=2_000,
        concurrent_requests=4,
    )
    budget = KeyBudget(cost_per_day=2.5, cost_per_month=40.0)
    created = await store.create(
        "team",
        allowed_models=["claude-sonnet-4-5", "claude-haiku-4-5"],
        limits=limits,
        budget=budget,
        admin=True,
    )
    key = await store.get(created.key.id)
    assert key is not None
    assert key.allowed_models == ("claude-sonnet-4-5", "claude-haiku-4-5")
    assert key.allows_model("claude-haiku-4-5")
    assert not key.allows_model("claude-opus-4-1")
    assert key.limits == limits
    assert key.budget == budget
    assert key.admin
    assert key.created_at.tzinfo is not None
    assert abs((key.created_at - created.key.created_at).total_seconds()) < 1
    plain = await store.create("plain")
    fetched = await store.get(plain.key.id)
    assert fetched is not None
    assert fetched.allows_model("anything")
    assert not fetched.admin
    assert fetched.limits == KeyLimits()


async def test_limits_and_budget_change_while_a_key_is_active(database: Database) -> None:
    store = KeyStore(database)
    created = await store.create("team", limits=KeyLimits(requests_per_minute=5), budget=KeyBudget(1.0))
    budget_only = await store.update(created.key.id, budget=KeyBudget(cost_per_month=9.0))
    assert budget_only.limits == KeyLimits(requests_per_minute=5)  # a section not given is kept
    assert budget_only.budget == KeyBudget(cost_per_day=None, cost_per_month=9.0)
    both = await store.update(created.key.id, limits=KeyLimits(concurrent_requests=2), budget=KeyBudget())
    assert (both.limits, both.budget) == (KeyLimits(concurrent_requests=2), KeyBudget())
    assert await store.get(created.key.id) == both
    with pytest.raises(UserError) as raised:
        await store.update(created.key.id, budget=KeyBudget(cost_per_day=-1.0))
    assert raised.value.field == "cost_per_day"
    with pytest.raises(UserError):
        await store.update("key_missing", limits=KeyLimits())
    await store.revoke(created.key.id)
    revoked = await store.update(created.key.id, limits=KeyLimits(requests_per_minute=1))
    assert revoked.limits == KeyLimits(concurrent_requests=2) and not revoked.active


async def test_invalid_key_settings_are_refused(database: Database) -> None:
    store = KeyStore(database)
    with pytest.raises(UserError) as raised:
        await store.create("x", limits=KeyLimits(requests_per_minute=-1))
    assert raised.value.field == "requests_per_minute"
    with pytest.raises(UserError):
        await store.create("  ")
    assert await store.list() == []


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    database = await Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    try:
        async with database.engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
    finally:
        await database.close()
    assert mode == "wal"


async def test_unsupported_database_urls_are_refused() -> None:
    with pytest.raises(UserError) as raised:
        await Database.connect("mysql://localhost/db")
    assert raised.value.field == "url"
