"""Asynchronous jobs: requests recorded durably, run later through the gateway core, ended once.

A job is one model request (an Anthropic Messages request, or a Chat Completions request for the
``openai`` dialect) with its submitter's identity, an optional webhook, metadata and a priority.
It is written to the store before its submitter hears back, claimed by a worker under a lease
renewed by heartbeats, retried with backoff after a retryable failure (an upstream's 429, 5xx,
overload or lost connection; never a client error or a budget refusal) or a lost lease, and ended
exactly once: the end (result, usage, cost or error), its ledger row and its webhook delivery are
one conditional write, which a worker that lost its lease cannot make.

Backends: ``embedded`` (the store's tables, workers in this process; SQLite by default) and
``pgqueuer`` (PostgreSQL holds the record, PgQueuer shares the work among replicas).

The API (``GatewayApp.jobs.engine()`` gives the running ``JobEngine``)::

    engine = await app.jobs.engine()
    jobs = await engine.submit(principal, [JobSpec(request), ...], headers=..., group_id="batch_…")
    job = await engine.get(job_id, owner)               # None: no such job of that owner
    page = await engine.owned(owner, after=cursor_id, limit=20)    # newest first
    await engine.cancel(job_id, owner)                  # a running attempt's call is cancelled

    # a group (a batch): submit N specs with one group_id, then
    counts = await engine.counts(group_id)              # GroupCounts: queued … canceled, done
    members = await engine.group(group_id, after=None, limit=1000)   # submission order, results
    await engine.cancel_group(group_id)
    await engine.delete_group(group_id)                 # its ended jobs

    async with engine.changed: await engine.changed.wait()   # a job run or canceled here changed
    await engine.retry_failed([job_id, ...])            # failed jobs queued again, attempts reset

    # jobs of a group_id prefix run by another runner than the single request (event pipelines):
    engine.runners["evt"] = runner      # async (job, principal, headers, request_id) -> Attempt
    # writes that commit with ends of jobs (an outbox): async (connection, jobs ended) -> None
    engine.end_writes.append(write)

``Job.result`` is the answer in the job's dialect, ``Job.error`` ``{"status", "body"}`` with the
error envelope in its dialect; ``job_json`` renders what ``GET /v1/jobs/{id}`` shows. Webhook
deliveries (``Deliveries``) are written with a job's end and sent by ``claudegate.gateway.webhooks``.
"""

from __future__ import annotations

from claudegate.gateway.jobs._deliveries import Deliveries, Delivery, Sender, SentAttempt
from claudegate.gateway.jobs._engine import Dispatcher, EndWrite, JobEngine, Runner
from claudegate.gateway.jobs._execute import Attempt, retryable
from claudegate.gateway.jobs._model import (
    PRIORITIES,
    TERMINAL,
    GroupCounts,
    Job,
    JobDialect,
    JobSpec,
    JobStatus,
)
from claudegate.gateway.jobs._service import JobService
from claudegate.gateway.jobs._view import delivery_json, job_json, timestamp

__all__ = [
    "PRIORITIES",
    "TERMINAL",
    "Attempt",
    "Deliveries",
    "Delivery",
    "Dispatcher",
    "EndWrite",
    "GroupCounts",
    "Job",
    "JobDialect",
    "JobEngine",
    "JobService",
    "JobSpec",
    "JobStatus",
    "Runner",
    "Sender",
    "SentAttempt",
    "delivery_json",
    "job_json",
    "retryable",
    "timestamp",
]
