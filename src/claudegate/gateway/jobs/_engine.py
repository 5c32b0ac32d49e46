"""The job engine of one gateway process: submit, observe, cancel; run attempts; end jobs once.

The record lives in the gateway's store (``JobStore``); which worker runs what is the
dispatcher's business: the embedded one polls the store in this process, the PgQueuer one takes
what PostgreSQL hands it. Either way an attempt is: claim under a lease → run the request through
the core → end (or queue again) conditionally on the lease, with the ledger row, the webhook
delivery and the dispatcher's next entry in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate._semconv import CLAUDEGATE_JOBS
from claudegate.gateway._config import JobsConfig
from claudegate.gateway.core import Call, GatewayCore, GatewayError, Principal
from claudegate.gateway.jobs._batch import Batcher
from claudegate.gateway.jobs._deliveries import Deliveries, Delivery
from claudegate.gateway.jobs._execute import Attempt, build_call, error_record, execute, retryable
from claudegate.gateway.jobs._model import (
    PRIORITIES,
    GroupCounts,
    Job,
    JobSpec,
    new_job_id,
    principal_from_record,
    principal_record,
)
from claudegate.gateway.jobs._store import Change, Extra, JobStore
from claudegate.gateway.jobs._view import job_json
from claudegate.store import UsageRecord, ensure_rollups, write_usage

if TYPE_CHECKING:
    from claudegate.store import ApiKey, Database, KeyStore

__all__ = ["Dispatcher", "EndWrite", "JobEngine", "Runner"]

log = logging.getLogger("claudegate.gateway")


Runner = Callable[[Job, Principal, dict[str, str], str], Coroutine[Any, Any, Attempt]]
"""Runs one attempt at a job (the job, its principal, its headers, a request id) instead of the
job's single request: registered in ``JobEngine.runners`` for jobs of a ``group_id`` prefix."""

EndWrite = Callable[[AsyncConnection, list[Job]], Coroutine[Any, Any, None]]
"""Writes in the transaction that ends jobs (``JobEngine.end_writes``)."""


class Dispatcher(Protocol):
    """Hands due work to this process's workers (embedded polling, or PgQueuer)."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def enqueue(
        self, connection: AsyncConnection, kind: str, ids: Sequence[str], priorities: Sequence[int], at: float
    ) -> None:
        """Inside the transaction that made ``ids`` due at ``at`` (``kind``: job or delivery)."""

    def wake(self) -> None:
        """After that transaction committed."""


@dataclass(frozen=True, slots=True)
class _Ending:
    """How an attempt ends a job: the record's new values and what is written with them."""

    job: Job
    ended: Job
    values: dict[str, Any]
    ledger: UsageRecord | None
    again: float | None
    event: str | None


@dataclass(slots=True)
class _Running:
    owner: str
    attempt: int
    task: asyncio.Task[Attempt]


class JobEngine:
    """Jobs of one gateway (see the package docstring for the API)."""

    def __init__(
        self,
        core: GatewayCore,
        database: Database,
        config: JobsConfig,
        *,
        clock: Callable[[], float] = time.time,
        worker: str | None = None,
    ) -> None:
        self.core = core
        self.database = database
        self.config = config
        self.clock = clock
        self.worker = worker or "w_" + os.urandom(8).hex()
        self.store = JobStore(database)
        self.deliveries = Deliveries(database, clock, self.worker, config.lease)
        if core.tracing.enabled:
            self.deliveries.tracing = core.tracing
        self.dispatcher: Dispatcher | None = None
        self.running: dict[str, _Running] = {}
        self.changed = asyncio.Condition()
        """Notified whenever a job this process runs or cancels changes state."""
        self.observers: list[Callable[[Job], None]] = []
        """Called with a job this process starts an attempt at, ends, queues again or cancels."""
        self.runners: dict[str, Runner] = {}
        """Runners of jobs whose ``group_id`` starts with the key and ``_`` (others: one request)."""
        self.parked: set[str] = set()
        """Jobs running here whose attempt waits on others' company (a group of batched event runs,
        one upstream batch): not counted against ``workers`` nor ``per_key``. A runner parks and
        unparks them, at most ``parking`` at once."""
        self.parking = 0
        """How many jobs runners may park at once (PgQueuer is allowed that many more entries)."""
        self.end_writes: list[EndWrite] = []
        """Writes that commit with ends of jobs (given the jobs as they ended): what must not be
        lost once a job has ended, such as an outbox of what is sent of it."""
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # SQLite has one writer: ends written side by side would only wait for each other.
        self._keys: _KeyReads | None = None
        self._ends = Batcher(self._end_many, limit=64, lanes=1 if database.dialect == "sqlite" else 3)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, dispatcher: Dispatcher) -> None:
        await ensure_rollups(self.database)  # ledger rows are written with job ends, rollups included
        await self.store.ensure_indexes()
        self.dispatcher = dispatcher
        self._stopping.clear()
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())
        await dispatcher.start()

    async def close(self) -> None:
        """Stop taking work and cancel what runs (its leases lapse; another worker retries it).

        The calls are cancelled first; then the dispatcher stops and waits for its attempts, which
        write what the cancelled calls leave (usage already spent) before the store closes. An
        attempt that claims a job from now on leaves it to its lease.
        """
        self._stopping.set()
        tasks = [running.task for running in self.running.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if self.dispatcher is not None:
            await self.dispatcher.close()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.wait((self._heartbeat,))
        await self._ends.close()
        if self._keys is not None:
            await self._keys.close()
        await self.deliveries.close()

    # -- the public API --------------------------------------------------------------------------

    async def submit(
        self,
        principal: Principal,
        specs: Sequence[JobSpec],
        *,
        headers: Mapping[str, str] | None = None,
        group_id: str | None = None,
        extra: Extra | None = None,
        owner: str | None = None,
    ) -> list[Job]:
        """Record ``specs`` as queued jobs of ``principal`` (committed when this returns), with
        ``extra``'s writes in the same transaction (a batch's own row). ``owner`` records them under
        another owner than the principal's (they run as the principal)."""
        now = self.clock()
        kept = dict(headers or {})
        span = self.core.tracing.start_submission(kept, {CLAUDEGATE_JOBS: len(specs)})
        try:
            return await self._submit(principal, specs, kept, group_id, extra, now, owner)
        finally:
            if span is not None:
                span.end()

    async def _submit(
        self,
        principal: Principal,
        specs: Sequence[JobSpec],
        headers: dict[str, str],
        group_id: str | None,
        extra: Extra | None,
        now: float,
        owner: str | None,
    ) -> list[Job]:
        caller = {**principal_record(principal), "headers": headers}
        jobs = [
            Job(
                id=new_job_id(),
                owner=owner or principal.owner,
                dialect=spec.dialect,
                request=spec.request,
                priority=PRIORITIES[spec.priority],
                status="queued",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                group_id=spec.group_id or group_id,
                custom_id=spec.custom_id,
                webhook_url=spec.webhook_url,
                metadata=spec.metadata,
                caller=caller,
            )
            for spec in specs
        ]
        rows = [
            {
                "id": job.id,
                "owner": job.owner,
                "principal": caller,
                "group_id": job.group_id,
                "custom_id": job.custom_id,
                "dialect": job.dialect,
                "request": job.request,
                "priority": job.priority,
                "status": "queued",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                "webhook_url": job.webhook_url,
                "job_metadata": job.metadata,
            }
            for job in jobs
        ]
        dispatcher = self._dispatcher()

        async def enqueue(connection: AsyncConnection) -> None:
            await dispatcher.enqueue(
                connection, "job", [job.id for job in jobs], [job.priority for job in jobs], now
            )
            if extra is not None:
                await extra(connection)

        await self.store.insert(rows, enqueue)
        dispatcher.wake()
        return jobs

    async def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, when it exists and (given ``owner``) is that owner's."""
        job = await self.store.get(job_id)
        return job if job is not None and (owner is None or job.owner == owner) else None

    async def wait(self, job_id: str, owner: str | None, timeout: float) -> Job | None:
        """The job once it has ended, or as it is after ``timeout`` seconds. Woken by this
        process's changes, and looks at the record every ``jobs.poll`` seconds (for jobs that
        another process runs)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            job = await self.get(job_id, owner)
            left = deadline - loop.time()
            if job is None or job.done or left <= 0:
                return job
            async with self.changed:
                try:
                    await asyncio.wait_for(self.changed.wait(), min(left, self.config.poll))
                except TimeoutError:
                    pass

    async def owned(self, owner: str, *, after: str | None = None, limit: int = 20) -> list[Job]:
        """``owner``'s jobs, newest first, after the job ``after`` (a cursor)."""
        cursor = await self.get(after, owner) if after is not None else None
        return await self.store.page(owner=owner, after=cursor, limit=limit)

    async def recent(self, limit: int = 50) -> list[Job]:
        """Every owner's single jobs (``/v1/jobs``, not batch or event runs), newest first."""
        return await self.store.recent(limit)

    async def group(self, group_id: str, *, after: str | None = None, limit: int = 1000) -> list[Job]:
        """A group's jobs in submission order, after the job ``after``."""
        cursor = await self.store.get(after) if after is not None else None
        return await self.store.page(group_id=group_id, after=cursor, limit=limit)

    async def counts(self, group_id: str) -> GroupCounts:
        return await self.store.counts(group_id)

    async def counts_many(self, group_ids: Sequence[str]) -> dict[str, GroupCounts]:
        """``counts`` of several groups, read at once (a group with no jobs is left out)."""
        return await self.store.counts_many(group_ids)

    async def group_heads(self, group_ids: Sequence[str], limit: int) -> dict[str, list[Job]]:
        """The first ``limit`` jobs of each group (as ``group`` gives them), read at once."""
        return await self.store.heads(group_ids, limit)

    async def cancel(self, job_id: str, owner: str | None = None) -> Job | None:
        """Cancel the job (a running attempt's upstream call is cancelled); the job as it is now,
        None when there is no such job of ``owner``."""
        table = self.store.table
        condition = table.c.id == job_id
        if owner is not None:
            condition = condition & (table.c.owner == owner)
        await self._cancel(condition)
        return await self.get(job_id, owner)

    async def cancel_group(self, group_id: str) -> int:
        """Cancel every unfinished job of a group; how many were canceled."""
        return len(await self._cancel(self.store.table.c.group_id == group_id))

    async def delete_group(self, group_id: str) -> int:
        """Remove a group's ended jobs and their deliveries."""
        return await self.store.delete_group(group_id)

    async def retry_failed(self, job_ids: Sequence[str]) -> list[str]:
        """Queue failed jobs again with a fresh count of attempts; the ids queued (each failed job
        once, however many callers ask at the same time)."""
        table = self.store.table
        now = self.clock()
        dispatcher = self._dispatcher()
        queued: list[str] = []
        async with self.database.engine.begin() as connection:
            for job_id in job_ids:
                statement = (
                    update(table)
                    .where((table.c.id == job_id) & (table.c.status == "failed"))
                    .values(status="queued", attempts=0, next_attempt_at=now, finished_at=None, error=None)
                    .returning(table.c.priority)
                )
                priority = (await connection.execute(statement)).scalar()
                if priority is not None:
                    queued.append(job_id)
                    await dispatcher.enqueue(connection, "job", [job_id], [priority], now)
        if queued:
            dispatcher.wake()
        return queued

    async def job_deliveries(self, job_id: str) -> list[Delivery]:
        return await self.deliveries.of_job(job_id)

    async def redeliver(self, job_id: str) -> list[Delivery]:
        """Send the job's webhooks again (same ids, a fresh retry schedule)."""
        redone = await self.deliveries.redeliver(job_id)
        if redone:
            dispatcher = self._dispatcher()
            async with self.database.engine.begin() as connection:
                await dispatcher.enqueue(
                    connection, "delivery", [d.id for d in redone], [1] * len(redone), self.clock()
                )
            dispatcher.wake()
        return redone

    # -- running attempts ------------------------------------------------------------------------

    def _dispatcher(self) -> Dispatcher:
        if self.dispatcher is None:
            raise GatewayError(503, "api_error", "the job engine is not running")
        return self.dispatcher

    def saturated(self) -> list[str]:
        """Owners with as many jobs running here as ``jobs.per_key`` allows."""
        cap = self.config.per_key
        if cap is None:
            return []
        counts: dict[str, int] = {}
        parked = self.parked
        for job_id, running in self.running.items():
            if job_id not in parked:
                counts[running.owner] = counts.get(running.owner, 0) + 1
        return [owner for owner, count in counts.items() if count >= cap]

    def owner_load(self, owner: str) -> int:
        """Jobs of ``owner`` running here (parked ones aside)."""
        parked = self.parked
        return sum(
            1 for job_id, running in self.running.items() if running.owner == owner and job_id not in parked
        )

    @property
    def free(self) -> int:
        """Workers free: ``workers`` less the jobs running here that are not parked."""
        return self.config.workers - len(self.running) + len(self.parked)

    def park(self, job_id: str) -> bool:
        """Stop counting a job running here against the workers while it waits (see ``parked``);
        False (it stays counted) when ``parking`` jobs are parked already or it does not run here."""
        if job_id in self.parked:
            return True
        if job_id not in self.running or len(self.parked) >= self.parking:
            return False
        self.parked.add(job_id)
        return True

    def unpark(self, job_id: str) -> None:
        """Count it again (its attempt ended, or it runs on its own now)."""
        if job_id in self.parked:
            self.parked.discard(job_id)
            if self.dispatcher is not None:
                self.dispatcher.wake()

    async def run(self, job: Job) -> None:
        """One attempt at a job this worker just claimed, to its end or its next attempt."""
        caller = await self._caller(job)
        if isinstance(caller, GatewayError):
            await self._end(job, Attempt(None, error=caller))
            return
        principal, headers = caller
        if job.attempts > self.config.max_attempts:  # its workers were lost that many times
            error = GatewayError(500, "api_error", f"the job's worker was lost {job.attempts - 1} times")
            await self._end(job, Attempt(None, error=error))
            return
        request_id = f"req_{job.id[4:]}_{job.attempts}"
        if self._stopping.is_set():  # claimed as the engine closed: the lease lapses, another worker runs it
            return
        runner = self.runners.get(job.group_id.partition("_")[0]) if job.group_id else None
        call: Call | None = None
        if runner is not None:
            work = runner(job, principal, headers, request_id)
        else:
            call = build_call(self.core, job, principal, headers, request_id)
            work = execute(self.core, job, call)
        task = asyncio.get_running_loop().create_task(work)
        self.running[job.id] = _Running(job.owner, job.attempts, task)
        await self._notify([job])
        try:
            await asyncio.wait((task,))
        finally:
            self.running.pop(job.id, None)
            self.parked.discard(job.id)
        await self._end(job, Attempt(call) if task.cancelled() else task.result())

    async def _caller(self, job: Job) -> tuple[Principal, dict[str, str]] | GatewayError:
        """Who the job runs as (its submitter, as the store knows the key now), and its headers."""
        caller = job.caller or {}
        policies = self.core.policies
        keys = policies.keys if policies is not None else None
        if keys is not None and (self._keys is None or self._keys.store is not keys):
            self._keys = _KeyReads(keys)
        try:
            principal = await principal_from_record(caller, self._keys if keys is not None else None)
        except GatewayError as exc:
            return exc
        headers = caller.get("headers")
        return principal, dict(headers) if isinstance(headers, dict) else {}

    def _ledger(self, call: Call | None) -> UsageRecord | None:
        policies = self.core.policies
        if call is None or policies is None or policies.writer is None or not call.outcome.settled:
            return None
        return replace(policies.usage_record(call), time=datetime.fromtimestamp(self.clock(), UTC))

    def _backoff(self, attempts: int) -> float:
        return float(min(self.config.backoff * 2 ** max(attempts - 1, 0), self.config.backoff_max))

    async def _end(self, job: Job, attempt: Attempt) -> None:
        """Write the attempt's end, conditionally on the lease."""
        now = self.clock()
        ledger = self._ledger(attempt.call)
        dispatcher = self._dispatcher()
        error = attempt.error
        values: dict[str, Any]
        event: str | None = None
        again: float | None = None
        if attempt.result is not None:
            outcome = attempt.call.outcome if attempt.call is not None else None
            values = {
                "status": "succeeded",
                "result": attempt.result,
                "usage": dict(outcome.usage) if outcome is not None else {},
                "cost": outcome.cost if outcome is not None else 0.0,
                "error": None,
                "finished_at": now,
                "lease_until": None,
            }
            event = "job.succeeded"
        elif error is None:  # cancelled here: by DELETE (the record says so) or by a lost lease
            values = {}
        elif retryable(error) and job.attempts < self.config.max_attempts:
            again = now + self._backoff(job.attempts)
            values = {"status": "queued", "next_attempt_at": again, "lease_until": None}
            values["error"] = error_record(
                error, job.dialect, attempt.call.request_id if attempt.call else job.id
            )
        else:
            values = {
                "status": "failed",
                "error": error_record(
                    error, job.dialect, attempt.call.request_id if attempt.call else job.id
                ),
                "finished_at": now,
                "lease_until": None,
            }
            event = "job.failed"
        ending = _Ending(job, _ended(job, values) if values else job, values, ledger, again, event)
        if values and await self._ends(ending):
            dispatcher.wake()
            await self._notify([ending.ended])
        elif ledger is not None:
            await self._orphan_ledger(job.id, ledger)

    async def _end_many(self, endings: list[_Ending]) -> list[bool]:
        """Ends written together (see ``Batcher``): each one still conditional on its lease."""
        dispatcher = self._dispatcher()

        async def extra(connection: AsyncConnection, made: list[int]) -> None:
            ended = [endings[index] for index in made]
            rows = [ending.ledger for ending in ended if ending.ledger is not None]
            await write_usage(connection, self.database, rows)
            retries: dict[float, list[Job]] = {}
            for ending in ended:
                if ending.again is not None:
                    retries.setdefault(ending.again, []).append(ending.job)
            for at, jobs in retries.items():
                await dispatcher.enqueue(
                    connection, "job", [job.id for job in jobs], [job.priority for job in jobs], at
                )
            hooks = [
                (ending.ended, ending.event) for ending in ended if ending.event and ending.job.webhook_url
            ]
            await self._deliver(connection, hooks)
            for write in self.end_writes:
                await write(connection, [ending.ended for ending in ended])

        changes = [Change(ending.job.id, ending.job.attempts, ending.values) for ending in endings]
        return await self.store.transition_many(self.worker, changes, extra)

    async def _notify(self, jobs: list[Job]) -> None:
        for job in jobs:
            for observer in self.observers:
                observer(job)
        async with self.changed:
            self.changed.notify_all()

    async def _orphan_ledger(self, job_id: str, ledger: UsageRecord) -> None:
        """The row of an attempt that lost its job: kept only when the job was canceled (nobody
        runs it again); another worker's attempt writes its own."""
        current = await self.store.get(job_id)
        if current is not None and current.status == "canceled":
            async with self.database.engine.begin() as connection:
                await write_usage(connection, self.database, [ledger])

    async def _deliver(self, connection: AsyncConnection, hooks: Sequence[tuple[Job, str]]) -> None:
        """Write the webhook deliveries of ``hooks`` (job, event) and their queue entries."""
        if not hooks:
            return
        items = [(job.id, job.owner, job.webhook_url or "", event, job_json(job)) for job, event in hooks]
        webhook_ids, due = await self.deliveries.add(connection, items)
        priorities = [job.priority for job, _ in hooks]
        await self._dispatcher().enqueue(connection, "delivery", webhook_ids, priorities, due)

    async def _cancel(self, condition: Any) -> list[Job]:
        async def extra(connection: AsyncConnection, jobs: list[Job]) -> None:
            await self._deliver(connection, [(job, "job.canceled") for job in jobs if job.webhook_url])

        jobs = await self.store.cancel(condition, self.clock(), extra)
        for job in jobs:
            running = self.running.get(job.id)
            if running is not None:
                running.task.cancel()
        if jobs and self.dispatcher is not None:
            self.dispatcher.wake()
        await self._notify(jobs)
        return jobs

    async def _beat(self) -> None:
        """Renew the leases of what runs here; cancel what this worker no longer holds."""
        interval = self.config.heartbeat or self.config.lease / 3
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), interval)
                return
            except TimeoutError:
                pass
            held = [(job_id, running.attempt) for job_id, running in self.running.items()]
            try:
                kept = await self.store.renew(held, self.worker, self.clock() + self.config.lease)
            except Exception:
                log.exception("renewing job leases failed")
                continue
            for job_id, _ in held:
                running = self.running.get(job_id)
                if job_id not in kept and running is not None:
                    running.task.cancel()  # canceled, or taken over after this worker lost its lease


class _KeyReads:
    """The keys of attempts starting at about the same time, read in one query: each attempt reads
    its key as the store has it now (a revoked key fails its jobs), not one read each."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._reads = Batcher(self._read, limit=256, lanes=1)

    async def get(self, key_id: str) -> ApiKey | None:
        return await self._reads(key_id)

    async def close(self) -> None:
        await self._reads.close()

    async def _read(self, key_ids: list[str]) -> list[ApiKey | None]:
        found = await self.store.get_many(key_ids)
        return [found.get(key_id) for key_id in key_ids]


def _ended(job: Job, values: dict[str, Any]) -> Job:
    """``job`` with the values of its end."""
    from dataclasses import replace

    return replace(
        job,
        status=values["status"],
        next_attempt_at=values.get("next_attempt_at", job.next_attempt_at),
        result=values.get("result"),
        usage=values.get("usage"),
        cost=values.get("cost"),
        error=values.get("error"),
        finished_at=values.get("finished_at"),
    )
