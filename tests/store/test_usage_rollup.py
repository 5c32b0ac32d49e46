from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from claudegate.cli import app as cli
from claudegate.errors import UserError
from claudegate.store import Database, UsageLedger, UsageRecord
from claudegate.store._usage_query import UsageSummary, usage_summary
from claudegate.store._usage_rollup import ensure_rollups, rebuild_rollups
from tests.store._known_usage import T0, known_ledger


def brief(summary: UsageSummary) -> tuple[Any, ...]:
    return (summary.requests, summary.input_tokens, summary.output_tokens, round(summary.cost, 6))


async def test_grouped_by_day_and_key_over_the_rollup(database: Database) -> None:
    await UsageLedger(database).insert(known_ledger())
    found = await usage_summary(database, ["key"], bucket="day")
    assert [(group.start, group.key, *brief(group)) for group in found] == [
        (T0, "key_a", 4, 400, 40, 1.25),
        (T0, "key_b", 1, 100, 10, 0.5),
        (T0 + timedelta(days=1), "jwt:alice", 1, 1, 10, 0.5),
        (T0 + timedelta(days=1), "key_b", 1, 100, 10, 1.0),
        (T0 + timedelta(days=1), None, 1, 3, 10, 0.5),  # no key: last
    ]
    first = found[0]
    assert (first.errors, first.latency_ms_avg, first.latency_ms_max) == (1, 137.5, 300.0)
    assert (found[1].cache_read_tokens, found[1].cache_write_tokens) == (40, 7)


async def test_every_dimension_and_bucket(database: Database) -> None:
    await UsageLedger(database).insert(known_ledger())
    by_model = await usage_summary(database, ["model"])
    assert [(group.model, group.requests) for group in by_model] == [
        ("claude-haiku-4-5", 1),
        ("claude-sonnet-4-5", 7),
    ]
    by_deployment = await usage_summary(database, ["deployment"])
    assert [(group.deployment, group.requests) for group in by_deployment] == [("backup", 1), ("primary", 7)]
    by_surface = await usage_summary(database, ["surface"])
    assert [(group.surface, group.requests) for group in by_surface] == [("anthropic", 7), ("openai", 1)]
    by_status = await usage_summary(database, ["status"])
    assert [(group.status, group.requests, group.errors) for group in by_status] == [(200, 7, 0), (529, 1, 1)]
    hours = await usage_summary(database, [], bucket="hour", start=T0, end=T0 + timedelta(hours=6))
    assert [(group.start, group.requests) for group in hours] == [
        (T0, 2),
        (T0 + timedelta(hours=1), 2),
        (T0 + timedelta(hours=5), 1),
    ]
    minutes = await usage_summary(database, ["key"], bucket="minute", start=T0, end=T0 + timedelta(hours=2))
    assert [(group.start, group.key, group.requests, group.output_tokens) for group in minutes] == [
        (T0 + timedelta(minutes=5), "key_a", 2, 30),
        (T0 + timedelta(hours=1, minutes=10), "key_a", 1, 10),
        (T0 + timedelta(hours=1, minutes=50), "key_a", 1, 0),
    ]


async def test_ranges_that_cut_hours_and_days_read_the_rows_at_their_edges(database: Database) -> None:
    await UsageLedger(database).insert(known_ledger())
    # [00:05:10, day 2 02:00:30): row 1 is before it, row 7 after; the rest is inside.
    start, end = T0 + timedelta(minutes=5, seconds=10), T0 + timedelta(days=1, hours=2, seconds=30)
    total = await usage_summary(database, start=start, end=end)
    assert [brief(group) for group in total] == [(5, 500, 50, 2.25)]
    per_day = await usage_summary(database, ["key"], bucket="day", start=start, end=end, key_id="key_b")
    assert [(group.start, *brief(group)) for group in per_day] == [
        (T0, 1, 100, 10, 0.5),
        (T0 + timedelta(days=1), 1, 100, 10, 1.0),
    ]
    assert await usage_summary(database, start=T0 + timedelta(days=3), end=T0 + timedelta(days=4)) == []


async def test_one_owner_sees_only_its_rows(database: Database) -> None:
    await UsageLedger(database).insert(known_ledger())
    found = await usage_summary(database, ["key"], key_id="jwt:alice")
    assert [(group.key, group.requests) for group in found] == [("jwt:alice", 1)]


async def write_straight(database: Database) -> None:
    """The known ledger written to the ledger table alone, as a gateway without rollups did."""
    columns = [column.name for column in database.tables.usage.columns if column.name != "id"]
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(database.tables.usage),
            [{name: getattr(row, name) for name in columns} for row in known_ledger()],
        )


async def test_a_ledger_written_before_the_rollups_is_added_once(database: Database) -> None:
    await write_straight(database)
    await ensure_rollups(database)
    await UsageLedger(database).insert([UsageRecord("req_9", "key_a", "m", "d", time=T0)])
    found = await usage_summary(database, ["key"], bucket="day")
    assert [(group.key, group.requests) for group in found][:2] == [("key_a", 5), ("key_b", 1)]
    await rebuild_rollups(database)
    assert await usage_summary(database, ["key"], bucket="day") == found
    async with database.engine.connect() as connection:
        hourly = database.tables.usage_hourly
        count = (await connection.execute(select(func.sum(hourly.c.requests)))).scalar_one()
    assert int(count) == 9


async def test_bad_parameters_name_themselves(database: Database) -> None:
    with pytest.raises(UserError) as raised:
        await usage_summary(database, ["colour"])
    assert raised.value.field == "group_by"
    with pytest.raises(UserError) as raised:
        await usage_summary(database, bucket="week")
    assert raised.value.field == "bucket"
    with pytest.raises(UserError) as raised:
        await usage_summary(database, bucket="minute", start=T0, end=T0 + timedelta(days=2))
    assert raised.value.field == "bucket"
    with pytest.raises(UserError) as raised:
        await usage_summary(database, start=T0, end=T0)
    assert raised.value.field == "to"


async def test_a_rebuild_is_not_added_again_when_the_store_is_next_used(database: Database) -> None:
    await write_straight(database)  # no rollup yet: the rebuild builds it
    url = database.engine.url.render_as_string(hide_password=False)
    prefix = database.tables.usage.name.removesuffix("usage")
    await rebuild_rollups(database)
    fresh = await Database.connect(url, table_prefix=prefix)
    try:
        found = await usage_summary(fresh, bucket="day")
    finally:
        await fresh.close()
    assert [group.requests for group in found] == [5, 3]


def test_the_cli_rebuilds_the_rollups(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def prepare() -> None:
        database = await Database.connect(url)
        try:
            await write_straight(database)  # the ledger alone, no rollup
            async with database.engine.begin() as connection:
                await connection.execute(
                    insert(database.tables.usage_rollup_state).values(name="ledger", built_at=0.0)
                )
        finally:
            await database.close()

    async def report() -> list[int]:
        database = await Database.connect(url)
        try:
            return [group.requests for group in await usage_summary(database, bucket="day")]
        finally:
            await database.close()

    asyncio.run(prepare())
    assert asyncio.run(report()) == []  # marked built, yet empty: what a rebuild repairs
    result = CliRunner().invoke(cli, ["usage", "rebuild", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "rebuilt" in result.output
    assert asyncio.run(report()) == [5, 3]


async def rollup_rows(database: Database) -> list[tuple[Any, ...]]:
    rows = []
    async with database.engine.connect() as connection:
        for table in (database.tables.usage_hourly, database.tables.usage_daily):
            found = await connection.execute(select(table).order_by(*table.primary_key.columns))
            rows += [
                (table.name, *(round(v, 6) if isinstance(v, float) else v for v in row)) for row in found
            ]
    return rows


async def test_batches_added_one_by_one_and_concurrently_equal_a_rebuild(database: Database) -> None:
    rows = known_ledger()
    ledger = UsageLedger(database)
    await ledger.insert(rows[:3])
    await ledger.insert(rows[3:5])
    # Two connections upserting the same rollup rows at once (PostgreSQL: row locks, no lost update).
    url = database.engine.url.render_as_string(hide_password=False)
    other = await Database.connect(url, table_prefix=database.tables.usage.name.removesuffix("usage"))
    try:
        again = [replace(row, request_id=row.request_id + "b") for row in rows]
        await asyncio.gather(ledger.insert(rows[5:]), UsageLedger(other).insert(again))
    finally:
        await other.close()
    kept = await rollup_rows(database)
    await rebuild_rollups(database)
    assert kept == await rollup_rows(database)
    assert [group.requests for group in await usage_summary(database, bucket="day")] == [10, 6]
