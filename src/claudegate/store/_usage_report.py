"""Usage reports read off the ledger: totals grouped by key, model, deployment, day and hour, and
the rows of given jobs. Each is one SQL statement, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select

from claudegate.store._database import Database

__all__ = ["UsageGroup", "UsageRow", "jobs_usage", "usage_report"]

UsageDimension = Literal["key", "model", "deployment", "day", "hour"]


@dataclass(frozen=True, slots=True)
class UsageGroup:
    """Totals of one group; the dimensions not grouped by are None."""

    key: str | None
    model: str | None
    deployment: str | None
    day: str | None
    hour: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost: float


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One ledger row as a report shows it."""

    request_id: str
    key_id: str | None
    model: str
    deployment: str
    input_tokens: int
    output_tokens: int
    cost: float
    status: int
    time: datetime


def _bucket(database: Database, column: Any, hourly: bool) -> ColumnElement[Any]:
    """The UTC day (``2025-01-31``) or hour (``2025-01-31T13:00Z``) of a timestamp, as text."""
    if database.engine.dialect.name == "postgresql":
        text = 'YYYY-MM-DD"T"HH24":00Z"' if hourly else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", column), text)
    return func.strftime("%Y-%m-%dT%H:00Z" if hourly else "%Y-%m-%d", column)


async def usage_report(
    database: Database,
    group_by: Sequence[UsageDimension],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    key_id: str | None = None,
) -> list[UsageGroup]:
    """Totals over ``[start, end)`` grouped by ``group_by`` (none: one grand total), of one key
    when ``key_id`` is given, ordered by the grouped values."""
    table = database.tables.usage
    column = table.c
    dimensions: dict[str, ColumnElement[Any]] = {
        "key": column.key_id,
        "model": column.model,
        "deployment": column.deployment,
        "day": _bucket(database, column.time, hourly=False),
        "hour": _bucket(database, column.time, hourly=True),
    }
    chosen = list(dict.fromkeys(group_by))
    grouped = [dimensions[name].label(name) for name in chosen]
    query = select(
        *grouped,
        func.count().label("requests"),
        func.coalesce(func.sum(column.input_tokens), 0),
        func.coalesce(func.sum(column.output_tokens), 0),
        func.coalesce(func.sum(column.cache_write_tokens), 0),
        func.coalesce(func.sum(column.cache_read_tokens), 0),
        func.coalesce(func.sum(column.cost), 0.0),
    )
    if start is not None:
        query = query.where(column.time >= start)
    if end is not None:
        query = query.where(column.time < end)
    if key_id is not None:
        query = query.where(column.key_id == key_id)
    if grouped:
        query = query.group_by(*grouped).order_by(*grouped)
    async with database.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    groups = []
    for row in rows:
        values = dict(zip(chosen, row[: len(chosen)], strict=True))
        totals = row[len(chosen) :]
        if not grouped and int(totals[0]) == 0:
            continue  # no rows at all: no group
        groups.append(
            UsageGroup(
                key=values.get("key"),
                model=values.get("model"),
                deployment=values.get("deployment"),
                day=values.get("day"),
                hour=values.get("hour"),
                requests=int(totals[0]),
                input_tokens=int(totals[1]),
                output_tokens=int(totals[2]),
                cache_write_tokens=int(totals[3]),
                cache_read_tokens=int(totals[4]),
                cost=float(totals[5]),
            )
        )
    return groups


_JOB_ID_LENGTH = 28  # "job_" + 24 hex digits; an attempt's request id is "req_<hex>_<attempt>"


async def jobs_usage(database: Database, job_ids: Iterable[str]) -> dict[str, list[UsageRow]]:
    """The ledger rows of each job's attempts (request ids ``req_<job hex>_<attempt>``), in one query."""
    prefixes = {"req_" + job_id[4:]: job_id for job_id in job_ids if len(job_id) == _JOB_ID_LENGTH}
    found: dict[str, list[UsageRow]] = {job_id: [] for job_id in prefixes.values()}
    if not prefixes:
        return found
    column = database.tables.usage.c
    query = (
        select(
            column.request_id,
            column.key_id,
            column.model,
            column.deployment,
            column.input_tokens,
            column.output_tokens,
            column.cost,
            column.status,
            column.time,
        )
        .where(func.substr(column.request_id, 1, _JOB_ID_LENGTH).in_(list(prefixes)))
        .order_by(column.id)
    )
    async with database.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    for row in rows:
        job_id = prefixes.get(row[0][:_JOB_ID_LENGTH])
        if job_id is not None:
            found[job_id].append(UsageRow(*row))
    return found
