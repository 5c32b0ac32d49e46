"""Usage reports read off the ledger: totals grouped by key, model, deployment, day and hour (from
the rollups, see ``_usage_query``), and the rows of given jobs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select

from claudegate.store._database import Database
from claudegate.store._usage_query import usage_summary

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


async def usage_report(
    database: Database,
    group_by: Sequence[UsageDimension],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    key_id: str | None = None,
) -> list[UsageGroup]:
    """Totals over ``[start, end)`` grouped by ``group_by`` (none: one grand total), of one key
    when ``key_id`` is given, ordered by the grouped values (read as ``usage_summary`` does)."""
    chosen = list(dict.fromkeys(group_by))
    bucket = "hour" if "hour" in chosen else "day" if "day" in chosen else None
    dimensions = [name for name in chosen if name in ("key", "model", "deployment")]
    summaries = await usage_summary(database, dimensions, bucket=bucket, start=start, end=end, key_id=key_id)
    groups = []
    for summary in summaries:
        moment = summary.start
        groups.append(
            UsageGroup(
                key=summary.key,
                model=summary.model,
                deployment=summary.deployment,
                day=moment.strftime("%Y-%m-%d") if moment is not None and "day" in chosen else None,
                hour=moment.strftime("%Y-%m-%dT%H:00Z") if moment is not None and "hour" in chosen else None,
                requests=summary.requests,
                input_tokens=summary.input_tokens,
                output_tokens=summary.output_tokens,
                cache_write_tokens=summary.cache_write_tokens,
                cache_read_tokens=summary.cache_read_tokens,
                cost=summary.cost,
            )
        )
    groups.sort(key=lambda group: tuple(_order(getattr(group, name)) for name in chosen))
    return groups


def _order(value: str | None) -> tuple[bool, str]:
    return (value is None, value or "")


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
