from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from claudegate.errors import UserError
from claudegate.store import Database, UsageLedger, UsageRecord, UsageTotals, UsageWriter, period_bounds


def record(number: int, key_id: str | None = "key_a", **fields: Any) -> UsageRecord:
    base = UsageRecord(
        request_id=f"req_{number}",
        key_id=key_id,
        model="claude-sonnet-4-5",
        deployment="primary",
        input_tokens=10,
        output_tokens=5,
        cost=0.25,
    )
    return replace(base, **fields)


async def stored_request_ids(database: Database) -> list[str]:
    table = database.tables.usage
    async with database.engine.connect() as connection:
        return list((await connection.execute(select(table.c.request_id))).scalars().all())


async def stored_count(database: Database) -> int:
    table = database.tables.usage
    async with database.engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def wait_for_count(database: Database, expected: int) -> int:
    for _ in range(100):
        if (count := await stored_count(database)) == expected:
            return count
        await asyncio.sleep(0.02)
    return await stored_count(database)


async def test_a_full_batch_is_written_at_once_and_the_rest_on_close(database: Database) -> None:
    writer = UsageWriter(UsageLedger(database), batch_size=10, interval=30)
    for number in range(9):
        writer.record(record(number))
    await asyncio.sleep(0.2)
    assert await stored_count(database) == 0
    writer.record(record(9))
    assert await wait_for_count(database, 10) == 10
    for number in range(10, 13):
        writer.record(record(number))
    await asyncio.sleep(0.2)
    assert await stored_count(database) == 10
    assert writer.pending == 3
    await writer.close()
    assert sorted(await stored_request_ids(database)) == sorted(f"req_{n}" for n in range(13))
    with pytest.raises(UserError):
        writer.record(record(99))


async def test_a_partial_batch_is_written_after_the_interval(database: Database) -> None:
    async with UsageWriter(UsageLedger(database), batch_size=1000, interval=0.05) as writer:
        for number in range(3):
            writer.record(record(number))
        assert writer.pending == 3
        for _ in range(100):
            if writer.pending == 0:
                break
            await asyncio.sleep(0.02)
        assert await stored_count(database) == 3


async def test_no_row_is_lost_when_closing_right_after_recording(database: Database) -> None:
    writer = UsageWriter(UsageLedger(database), batch_size=100, interval=0.5)
    for number in range(250):
        writer.record(record(number))
    await writer.close()
    ids = await stored_request_ids(database)
    assert len(ids) == 250
    assert set(ids) == {f"req_{n}" for n in range(250)}


async def test_rows_the_database_refused_stay_queued_until_it_accepts_them(database: Database) -> None:
    writer = UsageWriter(UsageLedger(database), batch_size=100, interval=30)
    await database.drop_tables()
    for number in range(5):
        writer.record(record(number))
    with pytest.raises(DBAPIError):
        await writer.flush()
    assert writer.pending == 5
    await database.create_tables()
    await writer.close()
    assert await stored_count(database) == 5


async def test_every_field_of_a_row_is_stored(database: Database) -> None:
    when = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
    row = UsageRecord(
        request_id="req_full",
        key_id="key_x",
        model="claude-opus-4-1",
        deployment="anthropic-eu",
        input_tokens=1200,
        output_tokens=340,
        cache_write_tokens=50,
        cache_read_tokens=900,
        cost=0.0375,
        latency_ms=812.5,
        status=529,
        dialect="openai",
        stream=True,
        time=when,
    )
    await UsageLedger(database).insert([row])
    table = database.tables.usage
    async with database.engine.connect() as connection:
        stored = (await connection.execute(select(table))).mappings().one()
    assert {name: stored[name] for name in stored if name != "id"} == {
        "request_id": "req_full",
        "key_id": "key_x",
        "model": "claude-opus-4-1",
        "deployment": "anthropic-eu",
        "input_tokens": 1200,
        "output_tokens": 340,
        "cache_write_tokens": 50,
        "cache_read_tokens": 900,
        "cost": pytest.approx(0.0375),
        "latency_ms": pytest.approx(812.5),
        "status": 529,
        "dialect": "openai",
        "stream": True,
        "time": when,
    }


async def test_totals_sum_a_key_per_utc_day_and_month(database: Database) -> None:
    ledger = UsageLedger(database)
    march_end = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
    april_first = datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC)
    april_mid = datetime(2026, 4, 15, 12, tzinfo=UTC)
    await ledger.insert(
        [
            record(1, time=march_end, input_tokens=1, output_tokens=2, cost=0.5),
            record(2, time=april_first, input_tokens=10, output_tokens=20, cache_read_tokens=7, cost=1.0),
            record(3, time=april_mid, input_tokens=100, output_tokens=200, cache_write_tokens=3, cost=2.0),
            record(4, key_id="key_b", time=april_mid, input_tokens=1000, cost=4.0),
            record(5, key_id=None, time=april_mid, input_tokens=5000, cost=8.0),
        ]
    )
    day = await ledger.totals("key_a", "day", at=datetime(2026, 4, 1, 18, tzinfo=UTC))
    assert day == UsageTotals(requests=1, input_tokens=10, output_tokens=20, cache_read_tokens=7, cost=1.0)
    april = await ledger.totals("key_a", "month", at=april_mid)
    assert april == UsageTotals(
        requests=2, input_tokens=110, output_tokens=220, cache_write_tokens=3, cache_read_tokens=7, cost=3.0
    )
    # 01:30 on 1 April at UTC+2 is still 31 March in UTC.
    east = timezone(timedelta(hours=2))
    march_day = await ledger.totals("key_a", "day", at=datetime(2026, 4, 1, 1, 30, tzinfo=east))
    assert march_day.requests == 1
    assert march_day.cost == pytest.approx(0.5)
    assert await ledger.totals("key_unknown", "month", at=april_mid) == UsageTotals()
    by_key = await ledger.totals_by_key("month", at=april_mid)
    assert set(by_key) == {"key_a", "key_b"}
    assert by_key["key_b"].input_tokens == 1000


def test_period_bounds_cover_the_calendar_day_and_month() -> None:
    at = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert period_bounds("day", at) == (at.replace(hour=0), datetime(2027, 1, 1, tzinfo=UTC))
    assert period_bounds("month", at) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
