"""Grouped usage totals over a time range, read from the rollups where they cover it.

The range ``[start, end)`` is cut into pieces: the whole UTC days inside it are read from the daily
rollup, the whole hours left at its edges from the hourly rollup, and only the part left after that
(under an hour at each edge) from the ledger's rows. A rollup is used only when its bucket divides
the requested one: ``bucket="minute"`` reads the ledger alone, so its range must be bounded and at
most ``MAX_RAW_RANGE`` long. Each piece is one SQL statement; the pieces are summed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, case, func, select

from claudegate.errors import UserError
from claudegate.store._database import Database
from claudegate.store._usage_rollup import GRAINS, ensure_rollups, epoch_seconds

__all__ = ["BUCKETS", "DIMENSIONS", "MAX_RAW_RANGE", "UsageSummary", "usage_summary"]

Dimension = Literal["key", "model", "deployment", "surface", "status"]
Bucket = Literal["minute", "hour", "day"]

DIMENSIONS: dict[str, str] = {
    "key": "key_id",
    "model": "model",
    "deployment": "deployment",
    "surface": "dialect",
    "status": "status",
}
"""What a report may group by, and the ledger column of each (``surface`` is the caller's dialect)."""

BUCKETS: dict[str, int] = {"minute": 60, "hour": 3_600, "day": 86_400}
"""Time buckets and their size in seconds (UTC, aligned to the epoch: days start at midnight UTC)."""

MAX_RAW_RANGE = timedelta(days=1)
"""The longest range a report may read from the ledger's rows alone (``bucket="minute"``)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOTALS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost")
_MICROSECONDS = 1_000_000


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Totals of one group; the dimensions not grouped by (and ``start`` without a bucket) are None.
    ``key`` is None for calls made without a key."""

    start: datetime | None
    key: str | None
    model: str | None
    deployment: str | None
    surface: str | None
    status: int | None
    requests: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost: float
    errors: int
    latency_ms_avg: float
    latency_ms_max: float


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


Piece = tuple[str | None, int | None, int | None]  # (rollup table or None for the ledger, start, end) µs


def _pieces(start: int | None, end: int | None, grains: Sequence[tuple[str, int]]) -> list[Piece]:
    """``[start, end)`` (µs, None: unbounded) cut into whole buckets of each grain, coarsest first,
    and what no grain covers."""
    if not grains:
        return [(None, start, end)] if start is None or end is None or start < end else []
    name, seconds = grains[0]
    size = seconds * _MICROSECONDS
    low = None if start is None else -(-start // size) * size
    high = None if end is None else end // size * size
    if low is not None and high is not None and low >= high:
        return _pieces(start, end, grains[1:])
    found: list[Piece] = [(name, low, high)]
    if start is not None and low is not None and start < low:
        found += _pieces(start, low, grains[1:])
    if end is not None and high is not None and high < end:
        found += _pieces(high, end, grains[1:])
    return found


def _statement(
    database: Database, piece: Piece, grouped: Sequence[str], bucket: int | None, key_id: str | None
) -> Any:
    name, start, end = piece
    dialect = database.dialect
    if name is None:
        table: Table = database.tables.usage
        column = table.c
        seconds: ColumnElement[Any] = epoch_seconds(dialect, column.time)
        requests: Any = func.count()
        latency_sum, latency_max = func.sum(column.latency_ms), func.max(column.latency_ms)
        errors = func.sum(case((column.status >= 400, 1), else_=0))
        bounds = [] if start is None else [column.time >= _moment(start)]
        if end is not None:
            bounds.append(column.time < _moment(end))
    else:
        table = getattr(database.tables, name)
        column = table.c
        seconds = column.start
        requests = func.sum(column.requests)
        latency_sum, latency_max = func.sum(column.latency_ms_sum), func.max(column.latency_ms_max)
        errors = func.sum(case((column.status >= 400, column.requests), else_=0))
        bounds = [] if start is None else [column.start >= start // _MICROSECONDS]
        if end is not None:
            bounds.append(column.start < end // _MICROSECONDS)
    columns: list[ColumnElement[Any]] = []
    if bucket is not None:
        whole = name is not None and dict(GRAINS)[name] == bucket  # the rollup's own buckets
        columns.append((seconds if whole else seconds - seconds % bucket).label("bucket"))
    # A rollup's key "" (no key) is read as None, the ledger's NULL, when the pieces are summed.
    columns += [column[DIMENSIONS[dimension]].label(dimension) for dimension in grouped]
    query = select(
        *columns,
        requests,
        *(func.sum(column[total]) for total in _TOTALS),
        errors,
        latency_sum,
        latency_max,
    ).where(*bounds)
    if key_id is not None:
        query = query.where(column.key_id == key_id)
    if columns:
        query = query.group_by(*columns)
    return query


def _order(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else 0)


async def usage_summary(
    database: Database,
    group_by: Sequence[str] = (),
    *,
    bucket: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    key_id: str | None = None,
) -> list[UsageSummary]:
    """Totals over ``[start, end)`` (None: unbounded) per ``bucket`` and the ``group_by``
    dimensions, of one owner (a key id or ``jwt:<subject>``) when ``key_id`` is given; ordered by
    bucket, then by the grouped values. Groups without any request are left out."""
    unknown = [name for name in group_by if name not in DIMENSIONS]
    if unknown:
        raise UserError(f"cannot group by {unknown[0]!r}; use {', '.join(DIMENSIONS)}", field="group_by")
    if bucket is not None and bucket not in BUCKETS:
        raise UserError(f"unknown bucket {bucket!r}; use {', '.join(BUCKETS)}", field="bucket")
    for name, moment in (("from", start), ("to", end)):
        if moment is not None and moment.tzinfo is None:
            raise UserError("needs a time zone", field=name)
    if start is not None and end is not None and start >= end:
        raise UserError("must be later than from", field="to")
    size = BUCKETS[bucket] if bucket is not None else None
    grains = [(name, seconds) for name, seconds in GRAINS if size is None or size % seconds == 0]
    if not grains and (start is None or end is None or end - start > MAX_RAW_RANGE):
        raise UserError(
            f"bucket={bucket} reads the ledger's rows: give from and to at most "
            f"{MAX_RAW_RANGE.total_seconds() / 3600:g} hours apart",
            field="bucket",
        )
    grouped = list(dict.fromkeys(group_by))
    await ensure_rollups(database)
    pieces = _pieces(None if start is None else _micros(start), None if end is None else _micros(end), grains)
    width = len(grouped) + (size is not None)
    key_index = grouped.index("key") + (size is not None) if "key" in grouped else -1
    totals: dict[tuple[Any, ...], list[Any]] = {}
    async with database.engine.connect() as connection:
        for piece in pieces:
            for row in (await connection.execute(_statement(database, piece, grouped, size, key_id))).all():
                if row[width] is None or int(row[width]) == 0:
                    continue  # an ungrouped total over no rows
                sums: list[Any] = [int(row[width + i]) for i in range(5)] + [float(row[width + 5])]
                sums += [int(row[width + 6]), float(row[width + 7]), float(row[width + 8])]
                group = tuple(
                    None if index == key_index and value == "" else value
                    for index, value in enumerate(row[:width])
                )
                found = totals.get(group)
                if found is None:
                    totals[group] = sums
                else:
                    found[:8] = [a + b for a, b in zip(found[:8], sums[:8], strict=True)]
                    found[8] = max(found[8], sums[8])
    summaries = []
    for values in sorted(totals, key=lambda group: tuple(_order(value) for value in group)):
        sums = totals[values]
        named = dict(zip(grouped, values[size is not None :], strict=True))
        summaries.append(
            UsageSummary(
                start=None if size is None else _EPOCH + timedelta(seconds=int(values[0])),
                key=named.get("key"),
                model=named.get("model"),
                deployment=named.get("deployment"),
                surface=named.get("surface"),
                status=None if named.get("status") is None else int(named["status"]),
                requests=sums[0],
                input_tokens=sums[1],
                output_tokens=sums[2],
                cache_write_tokens=sums[3],
                cache_read_tokens=sums[4],
                cost=sums[5],
                errors=sums[6],
                latency_ms_avg=sums[7] / sums[0],
                latency_ms_max=sums[8],
            )
        )
    return summaries
