"""Latency distributions beside the usage rollups: how many calls fell in each latency bin, per
UTC hour and per UTC day × key × model × deployment × dialect × status.

The rollups keep sums and maxima, from which no percentile can be read; these tables keep a
histogram instead. Bins are log-spaced, four to a doubling from 1 ms (bin ``i`` holds latencies in
``[2^((i-1)/4), 2^(i/4))`` ms, bin 0 those under 1 ms, the last bin everything from about 15
minutes on), so a percentile read from them (``histogram_quantile``) is off by at most one bin's
width, about 19 % of the value, less after interpolation inside the bin. They are written with the
ledger rows and the rollups, in the same transaction, and filled from the ledger once when a
database that predates them is first used.
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    case,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from claudegate.store._database import Database
    from claudegate.store._usage import UsageRecord

__all__ = [
    "BINS",
    "BOUNDS_MS",
    "LATENCY_TABLES",
    "add_latencies",
    "build_latencies",
    "histogram_quantile",
    "latency_bin",
    "latency_bin_sql",
    "latency_tables",
]

BOUNDS_MS: tuple[float, ...] = tuple(2 ** (index / 4) for index in range(80))
"""The upper bound (exclusive) of each bin but the last, in milliseconds: 1 ms to about 15 min."""
BINS = len(BOUNDS_MS) + 1

LATENCY_TABLES = {"usage_hourly": "usage_latency_hourly", "usage_daily": "usage_latency_daily"}
"""The histogram table (attribute of ``Tables``) beside each rollup of ``GRAINS``."""

_GRAINS = (("usage_latency_daily", 86_400), ("usage_latency_hourly", 3_600))
_DIMENSIONS = ("start", "key_id", "model", "deployment", "dialect", "status", "bin")


def latency_tables(
    metadata: MetaData, prefix: str, dimensions: Callable[[], list[Column[Any]]]
) -> dict[str, Table]:
    """The hourly and daily latency histograms, keyed by the rollups' ``dimensions`` and a bin."""
    return {
        attribute: Table(
            f"{prefix}{attribute}",
            metadata,
            *dimensions(),
            Column("bin", SmallInteger(), nullable=False),
            Column("count", BigInteger(), nullable=False),
            PrimaryKeyConstraint(*_DIMENSIONS),
            Index(f"{prefix}{attribute}_key_start", "key_id", "start"),
            sqlite_with_rowid=False,
        )
        for attribute, _ in _GRAINS
    }


def latency_bin(latency_ms: float) -> int:
    """The bin of one latency."""
    return bisect_right(BOUNDS_MS, latency_ms)


def latency_bin_sql(column: Any) -> Any:
    """``latency_bin`` of a column, in SQL (portable: comparisons only, no logarithm)."""
    return case(*((column < bound, index) for index, bound in enumerate(BOUNDS_MS)), else_=len(BOUNDS_MS))


def histogram_quantile(counts: Sequence[int], quantile: float) -> float | None:
    """The ``quantile`` (0 to 1) of the latencies a histogram counts, in milliseconds, interpolated
    linearly inside its bin (None for an empty histogram). The open last bin gives its lower bound."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = quantile * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(BOUNDS_MS):
                return BOUNDS_MS[-1]
            low = BOUNDS_MS[index - 1] if index > 0 else 0.0
            return low + (BOUNDS_MS[index] - low) * max(rank - seen, 0.0) / count
        seen += count
    return BOUNDS_MS[-1]


def bucket_dimensions(record: UsageRecord, size: int) -> tuple[Any, ...]:
    """What a rollup row (and, with its bin, a histogram row) of ``size``-second buckets is keyed
    by: the bucket's start, key, model, deployment, dialect and status."""
    seconds = int(record.time.timestamp())
    return (
        seconds - seconds % size,
        record.key_id or "",
        record.model,
        record.deployment,
        record.dialect,
        record.status,
    )


def _bin_rows(records: Iterable[UsageRecord], size: int) -> list[dict[str, Any]]:
    """``records`` counted per bucket of ``size`` seconds, dimensions and bin, in a fixed order
    (concurrent writers lock rows in the same order)."""
    found: dict[tuple[Any, ...], int] = {}
    for record in records:
        dimensions = (*bucket_dimensions(record, size), latency_bin(record.latency_ms))
        found[dimensions] = found.get(dimensions, 0) + 1
    return [{**dict(zip(_DIMENSIONS, key, strict=True)), "count": found[key]} for key in sorted(found)]


@functools.lru_cache(maxsize=64)
def _upsert(dialect: str, table: Table) -> Any:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    changes = {"count": table.c["count"] + statement.excluded["count"]}
    return statement.on_conflict_do_update(index_elements=_DIMENSIONS, set_=changes)


async def add_latencies(
    connection: AsyncConnection, database: Database, records: Sequence[UsageRecord]
) -> None:
    """Count ``records`` into every histogram, inside the caller's transaction."""
    dialect = connection.dialect.name
    for attribute, size in _GRAINS:
        table: Table = getattr(database.tables, attribute)
        await connection.execute(_upsert(dialect, table), _bin_rows(records, size))


async def build_latencies(connection: AsyncConnection, database: Database) -> None:
    """Fill the (empty) histograms from the ledger: hours from the rows, days from the hours."""
    from claudegate.store._usage_rollup import hour_dimensions

    tables = database.tables
    raw = tables.usage.c
    grouped = (*hour_dimensions(connection.dialect.name, raw), latency_bin_sql(raw.latency_ms).label("bin"))
    hourly: Table = tables.usage_latency_hourly
    columns = [*_DIMENSIONS, "count"]
    await connection.execute(
        insert(hourly).from_select(columns, select(*grouped, func.count()).group_by(*grouped))
    )
    hour = hourly.c
    day = (hour.start - hour.start % 86_400).label("start")
    day_grouped = (day, *(hour[name] for name in _DIMENSIONS[1:]))
    days = select(*day_grouped, func.sum(hour["count"])).group_by(*day_grouped)
    await connection.execute(insert(tables.usage_latency_daily).from_select(columns, days))
