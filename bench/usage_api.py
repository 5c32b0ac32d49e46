"""The usage API over a large ledger: a month of rows on SQLite and PostgreSQL, grouped by day.

    .venv/bin/python bench/usage_api.py [--rows 1000000] [--databases sqlite,postgresql]
        [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test] [--repeat 20]

Builds a ledger of ``--rows`` calls spread over 30 days (20 keys, 4 models, 3 deployments, 2
dialects, 3 statuses; a fixed seed) with the driver's bulk path (``executemany`` on SQLite, ``COPY``
on PostgreSQL), builds the rollups from it as a gateway does for a ledger that predates them, then
times what ``GET /v1/usage`` and ``GET /admin/usage`` run: one key's month by day, every key's month
by day and key, and a month whose ends cut hours (the edges read from the ledger's rows). It also
times a writer batch of 100 rows with its rollup upserts, and the latency histograms the
dashboard's percentiles are read from. Tables use a fresh prefix and are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from claudegate.store import Database, UsageLedger, UsageRecord
from claudegate.store._usage_query import latency_histograms, usage_summary
from claudegate.store._usage_rollup import rebuild_rollups

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 30
KEYS = [f"key_{number:02d}" for number in range(20)]
MODELS = ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "gpt-4o"]
DEPLOYMENTS = ["primary", "backup", "salesforce"]
COLUMNS = (
    "time",
    "request_id",
    "key_id",
    "model",
    "deployment",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost",
    "latency_ms",
    "status",
    "dialect",
    "stream",
)


def ledger_rows(count: int) -> list[tuple[Any, ...]]:
    """``count`` calls over ``DAYS`` days, in time order (times as datetimes)."""
    rng = random.Random(7)
    span = DAYS * 86_400
    rows = []
    for number in range(count):
        at = START + timedelta(seconds=number * span / count)
        status = 200 if rng.random() < 0.95 else rng.choice((429, 529))
        rows.append(
            (
                at,
                f"req_{number:012x}",
                rng.choice(KEYS),
                rng.choice(MODELS),
                rng.choice(DEPLOYMENTS),
                rng.randrange(10, 5000),
                rng.randrange(0, 1000) if status == 200 else 0,
                0,
                rng.randrange(0, 2000),
                rng.random() / 100,
                rng.uniform(50, 3000),
                status,
                rng.choice(("anthropic", "openai")),
                rng.random() < 0.5,
            )
        )
    return rows


def build_sqlite(path: Path, table: str, rows: list[tuple[Any, ...]]) -> None:
    connection = sqlite3.connect(path)
    try:
        text = [(row[0].strftime("%Y-%m-%d %H:%M:%S.%f"), *row[1:]) for row in rows]
        places = ", ".join("?" * len(COLUMNS))
        connection.executemany(f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({places})", text)
        connection.commit()
    finally:
        connection.close()


async def build_postgres(url: str, table: str, rows: list[tuple[Any, ...]]) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.copy_records_to_table(table, records=rows, columns=list(COLUMNS))
        await connection.execute(f"ANALYZE {table}")
    finally:
        await connection.close()


async def timed(repeat: int, run: Callable[[], Awaitable[Any]]) -> tuple[float, float, int]:
    """(p50 ms, max ms, groups) of ``repeat`` runs after one warm-up."""
    groups = len(await run())
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), max(times), groups


async def bench(name: str, url: str, rows: list[tuple[Any, ...]], repeat: int, workdir: Path) -> None:
    prefix = f"bench{secrets.token_hex(4)}_"
    if name == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'usage.db'}"
    database = await Database.connect(url, table_prefix=prefix)
    try:
        table = database.tables.usage.name
        began = time.perf_counter()
        if name == "sqlite":
            await asyncio.to_thread(build_sqlite, workdir / "usage.db", table, rows)
        else:
            await build_postgres(url, table, rows)
        loaded = time.perf_counter() - began
        began = time.perf_counter()
        await rebuild_rollups(database)
        rolled = time.perf_counter() - began
        if name == "postgresql":
            async with database.engine.connect() as connection:
                tables = database.tables
                for rollup in (
                    tables.usage_hourly,
                    tables.usage_daily,
                    tables.usage_latency_hourly,
                    tables.usage_latency_daily,
                ):
                    await connection.exec_driver_sql(f"ANALYZE {rollup.name}")
        print(
            f"{name}: {len(rows):,} ledger rows loaded in {loaded:.1f} s; "
            f"rollups and histograms built in {rolled:.1f} s"
        )
        month = (START, START + timedelta(days=DAYS))
        day = (START + timedelta(days=DAYS - 1), START + timedelta(days=DAYS))
        cut = (START + timedelta(hours=5, minutes=17), START + timedelta(days=DAYS - 1, hours=20, minutes=3))
        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "one key, by day (GET /v1/usage?bucket=day)": lambda: usage_summary(
                database, bucket="day", start=month[0], end=month[1], key_id=KEYS[3]
            ),
            "one key, by day and model": lambda: usage_summary(
                database, ["model"], bucket="day", start=month[0], end=month[1], key_id=KEYS[3]
            ),
            "every key, by day and key (GET /admin/usage)": lambda: usage_summary(
                database, ["key"], bucket="day", start=month[0], end=month[1]
            ),
            "every key, by day, ends cutting hours": lambda: usage_summary(
                database, bucket="day", start=cut[0], end=cut[1]
            ),
            "one key, by hour": lambda: usage_summary(
                database, bucket="hour", start=month[0], end=month[1], key_id=KEYS[3]
            ),
            "latency histograms, every key's month by day and key": lambda: latency_histograms(
                database, ["key"], bucket="day", start=month[0], end=month[1]
            ),
            "latency histograms, a day by hour and model (dashboard)": lambda: latency_histograms(
                database, ["model"], bucket="hour", start=day[0], end=day[1]
            ),
        }
        for label, run in cases.items():
            p50, worst, groups = await timed(repeat, run)
            print(f"  {label:<48} p50 {p50:7.1f} ms  max {worst:7.1f} ms  ({groups} groups)")
        ledger = UsageLedger(database)
        batches = []
        for batch in range(repeat):
            records = [
                UsageRecord(f"req_w{batch}_{n}", KEYS[n % 20], MODELS[n % 4], "primary", 100, 10, cost=0.01)
                for n in range(100)
            ]
            began = time.perf_counter()
            await ledger.insert(records)
            batches.append((time.perf_counter() - began) * 1000)
        print(
            f"  a writer batch of 100 rows with its rollup upserts: p50 {statistics.median(batches):.1f} ms"
        )
    finally:
        await database.drop_tables()
        await database.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    began = time.perf_counter()
    rows = ledger_rows(args.rows)
    print(f"{args.rows:,} rows generated in {time.perf_counter() - began:.1f} s")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.databases.split(","):
            await bench(name, args.postgres, rows, args.repeat, Path(workdir))


if __name__ == "__main__":
    asyncio.run(main())
