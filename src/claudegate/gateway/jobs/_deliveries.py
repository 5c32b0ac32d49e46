"""Webhook deliveries of ended jobs: one durable row per (job, event), written with the job's end.

A row keeps the delivery's stable ``webhook_id``, its URL, owner, event type and payload, when the
next attempt is due, and the log of every attempt. A worker claims a due row under a lease (as a
job is claimed), makes one attempt through the sender (``claudegate.gateway.webhooks``: signing,
the SSRF guard, the HTTP request), logs it, and either ends the row (delivered, disabled, refused,
or given up once the sender's schedule has no further delay) or sets its next attempt. A manual
redelivery makes the row due again with a fresh schedule, under the same ``webhook_id``.
Claims, and the logs of attempts, asked for at about the same time share a transaction
(``Batcher``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate import _semconv as sc
from claudegate.gateway.jobs._batch import Batcher

if TYPE_CHECKING:
    from opentelemetry.trace import Span
    from sqlalchemy import Row

    from claudegate.gateway.core._tracing import Tracing
    from claudegate.store import Database

__all__ = ["Deliveries", "Delivery", "Schedule", "Sender", "SentAttempt", "new_webhook_id"]

log = logging.getLogger("claudegate.gateway")

Schedule = Callable[[AsyncConnection, str, float], Awaitable[None]]
"""Writes a delivery's next queue entry (its id, when) in the transaction that logs an attempt."""


def new_webhook_id() -> str:
    """A fresh ``msg_…`` id: one per (job, event), the same on every attempt."""
    return "msg_" + os.urandom(12).hex()


class SentAttempt(Protocol):
    """What one attempt reports (``claudegate.gateway.webhooks.WebhookAttempt``)."""

    @property
    def outcome(self) -> str: ...
    @property
    def status(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def elapsed(self) -> float: ...


class Sender(Protocol):
    """Makes one signed attempt and knows the retry schedule (``Webhooks``)."""

    async def deliver(
        self,
        *,
        owner: str | None,
        url: str,
        webhook_id: str,
        event_type: str,
        data: dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> SentAttempt: ...

    def retry_delay(self, attempts_made: int) -> float | None: ...


@dataclass(frozen=True, slots=True)
class _Logged:
    """An attempt to write to a delivery's row: its new values, and its next queue entry."""

    webhook_id: str
    values: dict[str, Any]
    schedule: Schedule | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery and its log (one entry per attempt: ``at``, ``outcome``, ``status``, ``error``,
    ``elapsed``)."""

    id: str
    job_id: str
    owner: str
    url: str
    event_type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: float
    next_attempt_at: float | None
    log: list[dict[str, Any]]


def _delivery(row: Row[Any]) -> Delivery:
    data = row._mapping
    return Delivery(
        id=data["id"],
        job_id=data["job_id"],
        owner=data["owner"],
        url=data["url"],
        event_type=data["event_type"],
        payload=data["payload"],
        status=data["status"],
        attempts=data["attempts"],
        created_at=data["created_at"],
        next_attempt_at=data["next_attempt_at"],
        log=list(data["log"]),
    )


class Deliveries:
    """The deliveries table and one attempt at a row (see the module docstring)."""

    def __init__(self, database: Database, clock: Callable[[], float], worker: str, lease: float) -> None:
        self.table = database.tables.job_deliveries
        self.database = database
        self.clock = clock
        self.worker = worker
        self.lease = lease
        self.sender: Sender | None = None
        """Set once webhooks are configured; rows wait (pending) until then."""
        self.on_attempt: Callable[[Delivery], None] | None = None
        self.tracing: Tracing | None = None
        """Set when tracing is on: each attempt gets a span in its job's trace."""
        self._claims = Batcher(self._claim_many, limit=64, lanes=2)
        self._logs = Batcher(self._log_many, limit=64, lanes=2)

    async def close(self) -> None:
        """Wait for the claims and attempt logs being written."""
        await self._claims.close()
        await self._logs.close()

    async def add(
        self, connection: AsyncConnection, items: Sequence[tuple[str, str, str, str, dict[str, Any]]]
    ) -> tuple[list[str], float]:
        """Write deliveries (job id, owner, URL, event type, payload) inside the jobs'
        transaction; their webhook ids and when they are due."""
        now = self.clock()
        first = self.sender.retry_delay(0) if self.sender is not None else None
        due = now + (first or 0.0)
        rows: list[dict[str, Any]] = [
            {
                "id": new_webhook_id(),
                "job_id": job_id,
                "owner": owner,
                "url": url,
                "event_type": event_type,
                "payload": data,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": due,
                "log": [],
            }
            for job_id, owner, url, event_type, data in items
        ]
        await connection.execute(self.table.insert(), rows)
        return [row["id"] for row in rows], due

    async def of_job(self, job_id: str) -> list[Delivery]:
        query = select(self.table).where(self.table.c.job_id == job_id).order_by(self.table.c.created_at)
        async with self.database.engine.connect() as connection:
            return [_delivery(row) for row in (await connection.execute(query)).all()]

    async def redeliver(self, job_id: str) -> list[Delivery]:
        """Make the job's deliveries due now with a fresh schedule (same webhook ids)."""
        c = self.table.c
        statement = (
            update(self.table)
            .where(c.job_id == job_id)
            .values(
                status="pending", attempts=0, next_attempt_at=self.clock(), lease_owner=None, lease_until=None
            )
            .returning(*self.table.c)
        )
        async with self.database.engine.begin() as connection:
            return [_delivery(row) for row in (await connection.execute(statement)).all()]

    def _claimable(self, now: float) -> Any:
        c = self.table.c
        return and_(
            c.status == "pending", c.next_attempt_at <= now, or_(c.lease_until.is_(None), c.lease_until < now)
        )

    async def due(self, limit: int) -> list[str]:
        query = (
            select(self.table.c.id)
            .where(self._claimable(self.clock()))
            .order_by(self.table.c.next_attempt_at)
            .limit(limit)
        )
        async with self.database.engine.connect() as connection:
            return [row[0] for row in (await connection.execute(query)).all()]

    async def next_due(self) -> float | None:
        c = self.table.c
        query = select(func.min(func.coalesce(c.lease_until, c.next_attempt_at))).where(c.status == "pending")
        async with self.database.engine.connect() as connection:
            value = (await connection.execute(query)).scalar()
        return float(value) if value is not None else None

    async def get(self, webhook_id: str) -> Delivery | None:
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(select(self.table).where(self.table.c.id == webhook_id))).first()
        return _delivery(row) if row is not None else None

    async def run(self, webhook_id: str, schedule: Schedule | None = None) -> float | None:
        """One attempt at a due delivery; when the next one is due (None: ended, or not claimable).
        ``schedule`` writes the next attempt's queue entry with the attempt's log."""
        sender = self.sender
        if sender is None:
            return None
        delivery = await self._claims(webhook_id)
        if delivery is None:
            return None
        span: Span | None = None
        traced: dict[str, str] | None = None  # a receiver that traces joins the job's trace
        if self.tracing is not None:
            span = await self._span(delivery)
            traced = self.tracing.context_headers(span) if span is not None else None
        try:
            attempt = await sender.deliver(
                owner=None if delivery.owner == "anonymous" else delivery.owner,
                url=delivery.url,
                webhook_id=delivery.id,
                event_type=delivery.event_type,
                data=delivery.payload,
                headers=traced,
            )
        except BaseException as exc:
            if span is not None:
                span.set_attribute(sc.ERROR_TYPE, type(exc).__name__)
                span.end()
            raise
        if span is not None:
            _end_span(span, attempt)
        attempts = delivery.attempts + 1
        entry = {
            "at": attempt.started_at.astimezone(UTC).isoformat(),
            "outcome": attempt.outcome,
            "status": attempt.status,
            "error": attempt.error,
            "elapsed": round(attempt.elapsed, 6),
        }
        status, next_at = attempt.outcome, None
        if attempt.outcome == "failed":
            delay = sender.retry_delay(attempts)
            if delay is not None:
                status, next_at = "pending", self.clock() + delay
        values = {
            "status": status,
            "attempts": attempts,
            "next_attempt_at": next_at,
            "lease_owner": None,
            "lease_until": None,
            "log": [*delivery.log, entry],
        }
        await self._logs(_Logged(webhook_id, values, schedule if next_at is not None else None))
        if status == "failed":
            log.warning(
                "webhook %s of job %s: gave up after %d attempts", webhook_id, delivery.job_id, attempts
            )
        if self.on_attempt is not None:
            self.on_attempt(delivery)
        return next_at

    async def _span(self, delivery: Delivery) -> Span | None:
        """The attempt's span, a child of (and linked to) the trace its job was submitted in (a
        batch's delivery: the trace its jobs were submitted in)."""
        assert self.tracing is not None
        jobs = self.database.tables.jobs
        query = (
            select(jobs.c.principal)
            .where(or_(jobs.c.id == delivery.job_id, jobs.c.group_id == delivery.job_id))
            .limit(1)
        )
        async with self.database.engine.connect() as connection:
            caller = (await connection.execute(query)).scalar()
        headers = caller.get("headers") if isinstance(caller, dict) else None
        traceparent = headers.get("traceparent") if isinstance(headers, dict) else None
        attributes = {
            sc.CLAUDEGATE_WEBHOOK_ID: delivery.id,
            sc.CLAUDEGATE_JOB_ID: delivery.job_id,
            sc.CLAUDEGATE_WEBHOOK_EVENT: delivery.event_type,
            sc.CLAUDEGATE_WEBHOOK_ATTEMPT: delivery.attempts + 1,
        }
        return self.tracing.start_linked("deliver webhook", traceparent, attributes)

    async def _claim_many(self, ids: list[str]) -> list[Delivery | None]:
        """Lease those of ``ids`` that are due (one statement); each id's delivery, or None (a
        repeated id gets it once)."""
        now = self.clock()
        c = self.table.c
        claim = (
            update(self.table)
            .where(c.id.in_(set(ids)), self._claimable(now))
            .values(lease_owner=self.worker, lease_until=now + self.lease)
            .returning(*self.table.c)
        )
        async with self.database.engine.begin() as connection:
            claimed = {row._mapping["id"]: _delivery(row) for row in (await connection.execute(claim)).all()}
        return [claimed.pop(webhook_id, None) for webhook_id in ids]

    async def _log_many(self, logged: list[_Logged]) -> list[None]:
        """Log attempts (one statement while this worker holds each row) and schedule the next."""
        c = self.table.c
        statement = update(self.table).where(c.id == bindparam("b_id"), c.lease_owner == self.worker)
        async with self.database.engine.begin() as connection:
            await connection.execute(statement, [{"b_id": item.webhook_id, **item.values} for item in logged])
            for item in logged:
                if item.schedule is not None and item.values["next_attempt_at"] is not None:
                    await item.schedule(connection, item.webhook_id, item.values["next_attempt_at"])
        return [None] * len(logged)


def _end_span(span: Span, attempt: SentAttempt) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute(sc.CLAUDEGATE_WEBHOOK_OUTCOME, attempt.outcome)
    if attempt.status is not None:
        span.set_attribute(sc.HTTP_RESPONSE_STATUS_CODE, attempt.status)
    if attempt.outcome != "delivered":
        span.set_attribute(sc.ERROR_TYPE, attempt.error or attempt.outcome)
        span.set_status(Status(StatusCode.ERROR))
    span.end()
