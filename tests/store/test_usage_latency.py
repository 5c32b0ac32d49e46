"""Latency percentiles from the histograms beside the usage rollups: the same counts from the
ledger's rows and from the hourly and daily tables, kept in step with writes and rebuilt once for a
database that predates them."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from claudegate.store import Database, UsageLedger, UsageRecord
from claudegate.store._usage_latency import BINS, BOUNDS_MS, histogram_quantile, latency_bin
from claudegate.store._usage_query import latency_histograms, usage_summary
from claudegate.store._usage_rollup import ensure_rollups, rebuild_rollups
from tests.store._known_usage import T0, known_ledger
from tests.store.test_usage_rollup import write_straight


def test_bins_cover_every_latency_and_quantiles_stay_within_a_bin() -> None:
    assert latency_bin(0.0) == 0 and latency_bin(0.99) == 0 and latency_bin(1.0) == 1
    assert latency_bin(10**9) == BINS - 1
    for value in (1.3, 3.0, 100.0, 812.4, 45_000.0):
        counts = [0] * BINS
        counts[latency_bin(value)] = 1
        estimate = histogram_quantile(counts, 0.5)
        assert estimate is not None and abs(estimate - value) / value < 0.2
    assert histogram_quantile([0] * BINS, 0.5) is None
    under = [1] + [0] * (BINS - 1)  # everything under 1 ms is one bin
    assert histogram_quantile(under, 0.5) == 0.5


def test_quantiles_of_a_spread_of_latencies() -> None:
    rng = random.Random(7)
    values = sorted(rng.uniform(5, 2_000) for _ in range(5_000))
    counts = [0] * BINS
    for value in values:
        counts[latency_bin(value)] += 1
    for quantile in (0.5, 0.95, 0.99):
        exact = values[int(quantile * len(values))]
        estimate = histogram_quantile(counts, quantile)
        assert estimate is not None and abs(estimate - exact) / exact < 0.05, quantile
    assert BOUNDS_MS[0] == 1.0 and BOUNDS_MS[-1] > 600_000  # past the default 600 s timeout


async def test_percentiles_per_day_and_key_match_the_request_counts(database: Database) -> None:
    await UsageLedger(database).insert(known_ledger())
    found = await latency_histograms(database, ["key"], bucket="day")
    summaries = await usage_summary(database, ["key"], bucket="day")
    assert [(item.start, item.key, sum(item.counts)) for item in found] == [
        (group.start, group.key, group.requests) for group in summaries
    ]
    first = found[0]  # key_a on day one: 100, 300, 100 and 50 ms
    assert first.start == T0 and first.key == "key_a"
    p50, p95 = first.quantile(0.5), first.quantile(0.95)
    assert p50 is not None and 90 < p50 < 115
    assert p95 is not None and 250 < p95 < 340


async def test_the_ledger_and_the_tables_give_the_same_histograms(database: Database) -> None:
    await UsageLedger(database).insert(known_ledger())
    # Minutes read the ledger's rows (bins in SQL); hours read the hourly table (bins in Python).
    end = T0 + timedelta(hours=2)
    by_minute = await latency_histograms(database, ["model"], bucket="minute", start=T0, end=end)
    by_hour = await latency_histograms(database, ["model"], bucket="hour", start=T0, end=end)
    assert sum(item.counts[latency_bin(100.0)] for item in by_minute) == 2
    merged: dict[Any, list[int]] = {}
    for item in by_minute:
        hour = item.start.replace(minute=0) if item.start is not None else None
        counts = merged.setdefault((hour, item.model), [0] * BINS)
        for index, count in enumerate(item.counts):
            counts[index] += count
    assert {(item.start, item.model): list(item.counts) for item in by_hour} == merged
    # A range cutting hours reads its edges from the rows: the same totals as usage_summary.
    start, end = T0 + timedelta(minutes=5, seconds=10), T0 + timedelta(days=1, hours=2, seconds=30)
    (total,) = await latency_histograms(database, start=start, end=end)
    (summary,) = await usage_summary(database, start=start, end=end)
    assert sum(total.counts) == summary.requests == 5
    assert [sum(item.counts) for item in await latency_histograms(database, key_id="jwt:alice")] == [1]


async def test_a_database_from_before_the_histograms_is_counted_once(database: Database) -> None:
    await write_straight(database)
    await ensure_rollups(database)
    tables = database.tables
    async with database.engine.begin() as connection:  # as a database whose rollups predate them
        await connection.execute(delete(tables.usage_latency_hourly))
        await connection.execute(delete(tables.usage_latency_daily))
        await connection.execute(
            delete(tables.usage_rollup_state).where(tables.usage_rollup_state.c.name == "latency")
        )
    fresh = await _reopen(database)
    try:
        await UsageLedger(fresh).insert([UsageRecord("req_9", "key_a", "m", "d", latency_ms=7.0, time=T0)])
        found = await latency_histograms(fresh, bucket="day")
    finally:
        await fresh.close()
    assert [sum(item.counts) for item in found] == [6, 3]
    assert [summary.requests for summary in await usage_summary(database, bucket="day")] == [6, 3]
    kept = await _histogram_rows(database)
    await rebuild_rollups(database)
    assert await _histogram_rows(database) == kept


async def test_concurrent_batches_count_as_a_rebuild_does(database: Database) -> None:
    rows = known_ledger()
    ledger = UsageLedger(database)
    await ledger.insert(rows[:4])
    await ledger.insert([replace(row, request_id=row.request_id + "b") for row in rows])
    await ledger.insert(rows[4:])
    kept = await _histogram_rows(database)
    await rebuild_rollups(database)
    assert kept == await _histogram_rows(database)
    assert [sum(item.counts) for item in await latency_histograms(database, bucket="day")] == [10, 6]


async def _reopen(database: Database) -> Database:
    """A second connection to the same tables (a new process: ``ensure_rollups`` not yet run)."""
    url = database.engine.url.render_as_string(hide_password=False)
    return await Database.connect(url, table_prefix=database.tables.usage.name.removesuffix("usage"))


async def _histogram_rows(database: Database) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    async with database.engine.connect() as connection:
        for table in (database.tables.usage_latency_hourly, database.tables.usage_latency_daily):
            found = await connection.execute(select(table).order_by(*table.primary_key.columns))
            rows += [(table.name, *row) for row in found]
    return rows


@pytest.mark.parametrize("latency", [0.0, 1.0, 250.0, 10**7])
async def test_one_call_lands_in_its_bin_on_both_tables(database: Database, latency: float) -> None:
    await UsageLedger(database).insert([UsageRecord("r", None, "m", "d", latency_ms=latency, time=T0)])
    for bucket in ("hour", "day"):
        (found,) = await latency_histograms(database, bucket=bucket)
        assert found.counts[latency_bin(latency)] == 1 and sum(found.counts) == 1
