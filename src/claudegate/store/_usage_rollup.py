"""The usage rollups: ledger totals pre-aggregated per UTC hour and per UTC day × key × model ×
deployment × dialect × status, kept in step with the ledger, and their latency histograms
(``_usage_latency``).

Every ledger write adds its rows to both rollups and both histograms in the same transaction (one
upsert per table, the batch summed first), so a report over a month reads a few thousand rollup
rows instead of the ledger. A ledger that existed before the rollups (or the histograms) is added
to them once, the first time the store is used (``ensure_rollups``); ``rebuild_rollups``
recomputes them all from the ledger.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate.store._usage_latency import (
    LATENCY_TABLES,
    add_latencies,
    bucket_dimensions,
    build_latencies,
    latency_tables,
)

if TYPE_CHECKING:
    from claudegate.store._database import Database
    from claudegate.store._usage import UsageRecord

__all__ = [
    "GRAINS",
    "add_to_rollups",
    "dimension_columns",
    "ensure_rollups",
    "epoch_seconds",
    "rebuild_rollups",
    "rollup_tables",
]

GRAINS = (("usage_daily", 86_400), ("usage_hourly", 3_600))
"""The rollup tables (attribute of ``Tables``) and their bucket size in seconds, coarsest first."""

_DIMENSIONS = ("start", "key_id", "model", "deployment", "dialect", "status")
_SUMS = ("requests", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost")


def dimension_columns() -> list[Column[Any]]:
    """The columns a rollup row is keyed by (new objects: a column belongs to one table)."""
    return [
        Column("start", BigInteger(), nullable=False),  # the bucket's first second (unix time)
        Column("key_id", String(40), nullable=False),  # "" for calls without a key
        Column("model", String(200), nullable=False),
        Column("deployment", String(200), nullable=False),
        Column("dialect", String(20), nullable=False),
        Column("status", Integer(), nullable=False),
    ]


def _rollup(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        *dimension_columns(),
        Column("requests", BigInteger(), nullable=False),
        Column("input_tokens", BigInteger(), nullable=False),
        Column("output_tokens", BigInteger(), nullable=False),
        Column("cache_write_tokens", BigInteger(), nullable=False),
        Column("cache_read_tokens", BigInteger(), nullable=False),
        Column("cost", Float(), nullable=False),
        Column("latency_ms_sum", Float(), nullable=False),
        Column("latency_ms_max", Float(), nullable=False),
        PrimaryKeyConstraint(*_DIMENSIONS),
        Index(f"{name}_key_start", "key_id", "start"),
        sqlite_with_rowid=False,  # rows kept in key order: a range of buckets is one sequential read
    )


def rollup_tables(metadata: MetaData, prefix: str) -> dict[str, Table]:
    """The hourly and daily rollups, their latency histograms, and the markers that the ledger was
    added to them (a row ``ledger`` for the rollups, ``latency`` for the histograms)."""
    state = Table(
        f"{prefix}usage_rollup_state",
        metadata,
        Column("name", String(40), primary_key=True),
        Column("built_at", Float(), nullable=False),  # unix time
    )
    tables = {attribute: _rollup(metadata, f"{prefix}{attribute}") for attribute, _ in GRAINS}
    histograms = latency_tables(metadata, prefix, dimension_columns)
    return {**tables, **histograms, "usage_rollup_state": state}


def _bucket_rows(records: Iterable[UsageRecord], size: int) -> list[dict[str, Any]]:
    """``records`` summed per bucket of ``size`` seconds and dimensions, in a fixed order (so that
    concurrent writers lock rows in the same order)."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        dimensions = bucket_dimensions(record, size)
        row = found.get(dimensions)
        if row is None:
            row = found[dimensions] = dict(zip(_DIMENSIONS, dimensions, strict=True))
            row.update(dict.fromkeys(_SUMS, 0), cost=0.0, latency_ms_sum=0.0, latency_ms_max=0.0)
        row["requests"] += 1
        row["input_tokens"] += record.input_tokens
        row["output_tokens"] += record.output_tokens
        row["cache_write_tokens"] += record.cache_write_tokens
        row["cache_read_tokens"] += record.cache_read_tokens
        row["cost"] += record.cost
        row["latency_ms_sum"] += record.latency_ms
        row["latency_ms_max"] = max(row["latency_ms_max"], record.latency_ms)
    return [found[dimensions] for dimensions in sorted(found)]


@functools.lru_cache(maxsize=64)
def _upsert(dialect: str, table: Table) -> Any:
    """One bucket row added to ``table`` (a new row, or its sums added to the existing one)."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    excluded, column = statement.excluded, table.c
    largest = func.greatest if dialect == "postgresql" else func.max
    changes: dict[str, Any] = {name: column[name] + excluded[name] for name in (*_SUMS, "latency_ms_sum")}
    changes["latency_ms_max"] = largest(column.latency_ms_max, excluded.latency_ms_max)
    return statement.on_conflict_do_update(index_elements=_DIMENSIONS, set_=changes)


async def add_to_rollups(
    connection: AsyncConnection, database: Database, records: Sequence[UsageRecord]
) -> None:
    """Add ``records`` to every rollup and histogram, inside the caller's transaction (one
    executemany per table of a statement built once)."""
    dialect = connection.dialect.name
    for attribute, size in GRAINS:
        table: Table = getattr(database.tables, attribute)
        await connection.execute(_upsert(dialect, table), _bucket_rows(records, size))
    await add_latencies(connection, database, records)


def epoch_seconds(dialect: str, column: Any) -> Any:
    """A timestamp column as whole unix seconds, in SQL."""
    if dialect == "postgresql":
        return func.floor(func.extract("epoch", column)).cast(BigInteger())
    return func.strftime("%s", column).cast(BigInteger())


def hour_dimensions(dialect: str, raw: Any) -> tuple[Any, ...]:
    """The ledger's columns (``raw``) as an hourly rollup row's dimensions, to group rows by:
    what ``bucket_dimensions`` gives for one record, in SQL."""
    seconds = epoch_seconds(dialect, raw.time)
    return (
        (seconds - seconds % 3_600).label("start"),
        func.coalesce(raw.key_id, "").label("key_id"),
        raw.model,
        raw.deployment,
        raw.dialect,
        raw.status,
    )


async def _build(connection: AsyncConnection, database: Database) -> None:
    """Fill the (empty) rollups from the ledger: hours from the rows, days from the hours."""
    tables = database.tables
    raw = tables.usage.c
    hourly: Table = tables.usage_hourly
    grouped = hour_dimensions(connection.dialect.name, raw)
    hours = select(
        *grouped,
        func.count(),
        *(func.sum(raw[name]) for name in _SUMS[1:]),
        func.sum(raw.latency_ms),
        func.max(raw.latency_ms),
    ).group_by(*grouped)
    columns = [*_DIMENSIONS, *_SUMS, "latency_ms_sum", "latency_ms_max"]
    await connection.execute(insert(hourly).from_select(columns, hours))
    hour = hourly.c
    day_grouped = (
        (hour.start - hour.start % 86_400).label("start"),
        *(hour[name] for name in _DIMENSIONS[1:]),
    )
    days = select(
        *day_grouped,
        *(func.sum(hour[name]) for name in _SUMS),
        func.sum(hour.latency_ms_sum),
        func.max(hour.latency_ms_max),
    ).group_by(*day_grouped)
    await connection.execute(insert(tables.usage_daily).from_select(columns, days))


def _create_indexes(connection: Connection, table: Table) -> None:
    for index in table.indexes:
        index.create(connection, checkfirst=True)


_ready: weakref.WeakKeyDictionary[Database, asyncio.Lock] = weakref.WeakKeyDictionary()
_built: weakref.WeakSet[Database] = weakref.WeakSet()


def _marker(dialect: str, database: Database, name: str) -> Any:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        database.tables.usage_rollup_state
    ).values(name=name, built_at=time.time())
    return statement.on_conflict_do_nothing()


async def ensure_rollups(database: Database) -> None:
    """Add the ledger rows written before the rollups (or the histograms) existed to them, once
    per database.

    A marker row and its build commit together: a second process starting at the same time
    waits on the marker and then finds the rollups built. Writers call this before their first
    write, so no row is counted twice."""
    if database in _built:
        return
    lock = _ready.setdefault(database, asyncio.Lock())
    async with lock:
        if database in _built:
            return
        tables = database.tables
        async with database.engine.begin() as connection:
            await connection.run_sync(_create_indexes, tables.usage)  # a ledger from before them
            dialect = connection.dialect.name
            if (await connection.execute(_marker(dialect, database, "ledger"))).rowcount == 1:
                await _build(connection, database)
            if (await connection.execute(_marker(dialect, database, "latency"))).rowcount == 1:
                await build_latencies(connection, database)
        _built.add(database)


async def rebuild_rollups(database: Database) -> None:
    """Recompute the rollups and histograms from the ledger in one transaction (after rows were
    changed or written by a gateway that did not keep the rollups)."""
    tables = database.tables
    async with database.engine.begin() as connection:
        await connection.run_sync(_create_indexes, tables.usage)
        await connection.execute(delete(tables.usage_rollup_state))
        await connection.execute(
            insert(tables.usage_rollup_state),
            [{"name": name, "built_at": time.time()} for name in ("ledger", "latency")],
        )
        for attribute, _ in GRAINS:
            await connection.execute(delete(getattr(tables, attribute)))
            await connection.execute(delete(getattr(tables, LATENCY_TABLES[attribute])))
        await _build(connection, database)
        await build_latencies(connection, database)
    _built.add(database)
