"""Grouped usage totals (and latency histograms) over a time range, read from the rollups where
they cover it.

The range ``[start, end)`` is cut into pieces: the whole UTC days inside it are read from the daily
rollup, the whole hours left at its edges from the hourly rollup, and only the part left after that
(under an hour at each edge) from the ledger's rows. A rollup is used only when its bucket divides
the requested one: ``bucket="minute"`` reads the ledger alone, so its range must be bounded and at
most ``MAX_RAW_RANGE`` long. Each piece is one SQL statement; the pieces are summed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, case, func, select

from claudegate.errors import UserError
from claudegate.store._database import Database
from claudegate.store._usage_latency import BINS, LATENCY_TABLES, histogram_quantile, latency_bin_sql
from claudegate.store._usage_rollup import GRAINS, ensure_rollups, epoch_seconds

__all__ = [
    "BUCKETS",
    "DIMENSIONS",
    "MAX_RAW_RANGE",
    "LatencyHistogram",
    "Piece",
    "ReportPlan",
    "UsageSummary",
    "latency_histograms",
    "plan_report",
    "usage_summary",
]

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


def _source(database: Database, piece: Piece, tables: Mapping[str, str] | None = None) -> _Source:
    """What reads one piece: its table (the ledger, or the rollup ``tables`` maps its grain to),
    the first second of each row's bucket, and the piece's bounds."""
    name, start, end = piece
    if name is None:
        column = database.tables.usage.c
        seconds: ColumnElement[Any] = epoch_seconds(database.dialect, column.time)
        bounds = [] if start is None else [column.time >= _moment(start)]
        if end is not None:
            bounds.append(column.time < _moment(end))
        return _Source(database.tables.usage, seconds, bounds, None)
    table: Table = getattr(database.tables, tables[name] if tables is not None else name)
    bounds = [] if start is None else [table.c.start >= start // _MICROSECONDS]
    if end is not None:
        bounds.append(table.c.start < end // _MICROSECONDS)
    return _Source(table, table.c.start, bounds, dict(GRAINS)[name])


@dataclass(frozen=True, slots=True)
class _Source:
    table: Table
    seconds: ColumnElement[Any]
    bounds: list[ColumnElement[bool]]
    grain: int | None
    """The rollup's bucket size in seconds (None: the ledger's rows)."""

    def grouping(self, grouped: Sequence[str], bucket: int | None) -> list[ColumnElement[Any]]:
        """The bucket (when there is one) and the dimensions grouped by, as labelled columns."""
        columns: list[ColumnElement[Any]] = []
        if bucket is not None:
            seconds = self.seconds
            columns.append((seconds if self.grain == bucket else seconds - seconds % bucket).label("bucket"))
        # A rollup's key "" (no key) is read as None, the ledger's NULL, when the pieces are summed.
        columns += [self.table.c[DIMENSIONS[dimension]].label(dimension) for dimension in grouped]
        return columns


def _statement(
    database: Database, piece: Piece, grouped: Sequence[str], bucket: int | None, key_id: str | None
) -> Any:
    source = _source(database, piece)
    column = source.table.c
    if source.grain is None:
        requests: Any = func.count()
        latency_sum, latency_max = func.sum(column.latency_ms), func.max(column.latency_ms)
        errors = func.sum(case((column.status >= 400, 1), else_=0))
    else:
        requests = func.sum(column.requests)
        latency_sum, latency_max = func.sum(column.latency_ms_sum), func.max(column.latency_ms_max)
        errors = func.sum(case((column.status >= 400, column.requests), else_=0))
    columns = source.grouping(grouped, bucket)
    query = select(
        *columns,
        requests,
        *(func.sum(column[total]) for total in _TOTALS),
        errors,
        latency_sum,
        latency_max,
    ).where(*source.bounds)
    if key_id is not None:
        query = query.where(column.key_id == key_id)
    if columns:
        query = query.group_by(*columns)
    return query


@dataclass(frozen=True, slots=True)
class ReportPlan:
    """What a report over ``[start, end)`` reads: its dimensions (each once), its bucket's size in
    seconds (None: one total), and the pieces of the range by source (see ``_pieces``)."""

    grouped: list[str]
    size: int | None
    pieces: list[Piece]

    @property
    def width(self) -> int:
        """How many leading columns of a result row name its group (the bucket, the dimensions)."""
        return len(self.grouped) + (self.size is not None)

    def group(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """A result row's group; a rollup's key "" (no key) read as None, the ledger's NULL."""
        key_index = self.grouped.index("key") + (self.size is not None) if "key" in self.grouped else -1
        return tuple(
            None if index == key_index and value == "" else value
            for index, value in enumerate(row[: self.width])
        )

    def ordered(self, groups: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Groups by bucket, then by the grouped values (None last)."""
        return sorted(groups, key=lambda group: tuple(_order(value) for value in group))

    def dimensions(self, group: tuple[Any, ...]) -> dict[str, Any]:
        """A group as the ``start`` and dimension fields of ``UsageSummary``."""
        size = self.size
        named = dict(zip(self.grouped, group[size is not None :], strict=True))
        return {
            "start": None if size is None else _EPOCH + timedelta(seconds=int(group[0])),
            "key": named.get("key"),
            "model": named.get("model"),
            "deployment": named.get("deployment"),
            "surface": named.get("surface"),
            "status": None if named.get("status") is None else int(named["status"]),
        }


def plan_report(
    group_by: Sequence[str], bucket: str | None, start: datetime | None, end: datetime | None
) -> ReportPlan:
    """Check a report's parameters (a ``UserError`` naming the bad one) and cut its range into
    the pieces each source answers."""
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
    pieces = _pieces(None if start is None else _micros(start), None if end is None else _micros(end), grains)
    return ReportPlan(list(dict.fromkeys(group_by)), size, pieces)


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
    plan = plan_report(group_by, bucket, start, end)
    await ensure_rollups(database)
    width = plan.width
    totals: dict[tuple[Any, ...], list[Any]] = {}
    async with database.engine.connect() as connection:
        for piece in plan.pieces:
            statement = _statement(database, piece, plan.grouped, plan.size, key_id)
            for row in (await connection.execute(statement)).all():
                if row[width] is None or int(row[width]) == 0:
                    continue  # an ungrouped total over no rows
                sums: list[Any] = [int(row[width + i]) for i in range(5)] + [float(row[width + 5])]
                sums += [int(row[width + 6]), float(row[width + 7]), float(row[width + 8])]
                group = plan.group(row)
                found = totals.get(group)
                if found is None:
                    totals[group] = sums
                else:
                    found[:8] = [a + b for a, b in zip(found[:8], sums[:8], strict=True)]
                    found[8] = max(found[8], sums[8])
    summaries = []
    for group in plan.ordered(totals):
        sums = totals[group]
        summaries.append(
            UsageSummary(
                **plan.dimensions(group),
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


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """The latency distribution of one group (dimensions as in ``UsageSummary``): ``counts[i]``
    calls fell in bin ``i`` (see ``claudegate.store._usage_latency``)."""

    start: datetime | None
    key: str | None
    model: str | None
    deployment: str | None
    surface: str | None
    status: int | None
    counts: tuple[int, ...]

    def quantile(self, quantile: float) -> float | None:
        """The ``quantile`` (0 to 1) of the group's latencies in milliseconds (about one bin's
        precision; None when it has no call)."""
        return histogram_quantile(self.counts, quantile)


def _latency_statement(
    database: Database, piece: Piece, grouped: Sequence[str], bucket: int | None, key_id: str | None
) -> Any:
    source = _source(database, piece, LATENCY_TABLES)
    column = source.table.c
    count: Any
    if source.grain is None:
        bin_, count = latency_bin_sql(column.latency_ms), func.count()
    else:
        bin_, count = column.bin, func.sum(column["count"])
    columns = [*source.grouping(grouped, bucket), bin_.label("bin")]
    query = select(*columns, count).where(*source.bounds)
    if key_id is not None:
        query = query.where(column.key_id == key_id)
    return query.group_by(*columns)


async def latency_histograms(
    database: Database,
    group_by: Sequence[str] = (),
    *,
    bucket: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    key_id: str | None = None,
) -> list[LatencyHistogram]:
    """The latency histograms of the groups ``usage_summary`` gives for the same parameters, in
    the same order; read from the histogram tables beside the rollups where they cover the range."""
    plan = plan_report(group_by, bucket, start, end)
    await ensure_rollups(database)
    width = plan.width
    found: dict[tuple[Any, ...], list[int]] = {}
    async with database.engine.connect() as connection:
        for piece in plan.pieces:
            statement = _latency_statement(database, piece, plan.grouped, plan.size, key_id)
            for row in (await connection.execute(statement)).all():
                group = plan.group(row)
                counts = found.get(group)
                if counts is None:
                    counts = found[group] = [0] * BINS
                counts[int(row[width])] += int(row[width + 1])
    return [
        LatencyHistogram(**plan.dimensions(group), counts=tuple(found[group]))
        for group in plan.ordered(found)
    ]
