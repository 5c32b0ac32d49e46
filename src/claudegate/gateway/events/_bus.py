"""The event bus of one gateway: events in, each matched pipeline run as a job, state and
dead letters out.

An accepted event is one row (``events``) and one job per pipeline that takes it, written in one
transaction before ``publish`` returns; its id is idempotent per owner (the same id again is
accepted without a second run). The runs are jobs of the gateway's job engine (durable, leased,
retried with backoff, ended once) recorded under an owner of their own, so they stay out of the
submitter's ``/v1/jobs``; they run as the submitter (its limits and budget apply to each model
turn). A run that failed ``jobs.max_attempts`` times is dead: listed by ``dead`` and queued again,
once, by ``replay``.

>>> bus = app.events
>>> accepted = await bus.publish(principal, [Event("content.submitted", "ev_1", {"text": "…"})])
>>> state = await bus.get(principal.owner, "ev_1")      # {"status": "processed", "result": …}
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate.gateway.core import GatewayCore, GatewayError, Principal, RoomHub
from claudegate.gateway.events._batching import EventBatcher
from claudegate.gateway.events._metrics import EventMetrics
from claudegate.gateway.events._model import Event, event_group, event_owner, run_json, status_of
from claudegate.gateway.events._observers import StreamObservers
from claudegate.gateway.events._outbox import ResultOutbox
from claudegate.gateway.events._pipelines import Pipeline, Pipelines
from claudegate.gateway.events._run import PipelineRunner
from claudegate.gateway.events._template import TemplateRefused
from claudegate.gateway.jobs import PRIORITIES, Job, JobEngine, JobService, JobSpec, timestamp

if TYPE_CHECKING:
    from claudegate.gateway.events._nats import NatsIngress

__all__ = ["Accepted", "EventBus"]

GROUP_PREFIX = "evt"

log = logging.getLogger("claudegate.gateway")


@dataclass(frozen=True, slots=True)
class Accepted:
    """An event as ``publish`` took it: its id, the pipelines that run it, and whether the same id
    had been accepted before (then nothing new runs)."""

    id: str
    pipelines: tuple[str, ...]
    duplicate: bool = False

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "pipelines": list(self.pipelines), "duplicate": self.duplicate}


class EventBus:
    """Events of one gateway (see the module docstring)."""

    def __init__(
        self,
        core: GatewayCore,
        jobs: JobService,
        pipelines: Pipelines,
        clock: Callable[[], float] = time.time,
        hub: Callable[[], RoomHub | None] = lambda: None,
    ) -> None:
        self.core = core
        self.jobs = jobs
        self.pipelines = pipelines
        self.clock = clock
        self.hub = hub
        """The room hub result events are published to (``/v1/ws``'s)."""
        self.runner = PipelineRunner(core, pipelines)
        self.metrics = EventMetrics()
        core.metrics.registry.register(self.metrics)
        self.batcher = EventBatcher(core, self.runner, self.metrics, clock)
        """Where the low-priority runs of pipelines with ``batch`` wait for their group."""
        self.runner.batcher = self.batcher
        self.streams = StreamObservers(pipelines, core.config.events.streams, self.publish)
        """The stream observers (pipelines on ``stream.window`` / ``stream.completed``)."""
        core.metrics.registry.register(self.streams)
        self._observe()
        pipelines.on_add.append(self._added)
        core.metrics.before_scrape.append(self._count_queued)
        self._publishing: set[asyncio.Task[object]] = set()
        self.nats: NatsIngress | None = None
        """The NATS JetStream consumer (``events.nats``), once started."""
        self.outbox: ResultOutbox | None = None
        """Result events still to be published to NATS (``events.nats.emit_prefix``)."""
        jobs.on_open.append(self._attach)

    async def start(self) -> None:
        """At startup: consume ``events.nats`` when configured (the job engine opens with it)."""
        nats = self.core.config.events.nats
        if nats is not None:
            from claudegate.gateway.events._nats import NatsIngress

            await self.jobs.engine()
            self.nats = NatsIngress(self, nats)
            await self.nats.start()

    async def close(self) -> None:
        """At shutdown, before the job engine closes: stop consuming (a message not yet accepted
        is delivered again) and publishing (a result event not yet published is at next start)."""
        if self.nats is not None:
            await self.nats.close()
            self.nats = None
        await self.batcher.close()
        await self.streams.close()
        if self.outbox is not None:
            await self.outbox.close()

    def _attach(self, engine: JobEngine) -> None:
        engine.runners[GROUP_PREFIX] = self.runner
        engine.observers.append(self._ended)
        self.batcher.engine = engine
        engine.parking += sum(self.batcher.parking(p) for p in self.pipelines if p.batch is not None)
        nats = self.core.config.events.nats
        if nats is not None and nats.emit_prefix is not None:
            self.outbox = ResultOutbox(engine.database, engine.clock, self._emit, GROUP_PREFIX + "_")
            engine.end_writes.append(self.outbox.write)

    def _added(self, pipeline: Pipeline) -> None:
        """A pipeline added in Python: room for its batched runs to wait (PgQueuer's cap is set at
        its start); streams observed when it observes them."""
        engine = self.jobs.engine_if_open
        if engine is not None and pipeline.batch is not None:
            engine.parking += self.batcher.parking(pipeline)
        self._observe()

    def _observe(self) -> None:
        """Have the core hand streams to the observers while a pipeline observes them."""
        self.core.stream_observer = self.streams if self.streams.refresh() else None

    async def _emit(self, result: dict[str, Any]) -> None:
        if self.nats is None:
            raise RuntimeError("not connected to NATS")
        await self.nats.emit(result)

    def _ended(self, job: Job) -> None:
        """A run this process started or ended: counted; once processed, its result event to its
        pipeline's room (live fan-out; the record, ``get``, is what is durable) and to NATS (from
        the outbox its end wrote)."""
        if not (job.group_id or "").startswith(GROUP_PREFIX + "_"):
            return
        self.metrics.observe(job)
        if self.outbox is not None and job.status == "succeeded" and job.result is not None:
            self._spawn(self.outbox.send(job))
        room = (job.metadata or {}).get("room") if job.status == "succeeded" else None
        hub = self.hub() if isinstance(room, str) and job.result is not None else None
        if hub is None:
            return
        self._spawn(hub.publish(str(room), [{"type": "event.result", "event": job.result}]))

    async def _count_queued(self) -> None:
        """The runs queued in the store, by pipeline and priority (for ``/metrics``; nothing is
        read while the job engine is not open)."""
        engine = self.jobs.engine_if_open
        if engine is None:
            return
        jobs = engine.store.table
        pipeline = jobs.c.job_metadata["pipeline"].as_string()
        query = (
            select(pipeline, jobs.c.priority, func.count())
            .where((jobs.c.status == "queued") & jobs.c.group_id.startswith(GROUP_PREFIX + "_"))
            .group_by(pipeline, jobs.c.priority)
        )
        async with engine.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        names = {rank: name for name, rank in PRIORITIES.items()}
        counts = dict.fromkeys(self.metrics.queued, 0)  # a count gone to nothing reads 0
        for label, rank, count in rows:
            counts[(str(label), names.get(rank, "medium"))] = int(count)
        self.metrics.queued = counts

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._publishing.add(task)
        task.add_done_callback(self._published)

    def _published(self, task: asyncio.Task[object]) -> None:
        self._publishing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("publishing a result event failed: %s", type(task.exception()).__name__)

    async def publish(
        self,
        principal: Principal,
        events: Sequence[Event],
        *,
        headers: Mapping[str, str] | None = None,
        only: Collection[str] | None = None,
    ) -> list[Accepted]:
        """Accept ``events`` (durably, when this returns) for ``principal``; a 400 naming the event
        whose prompt a pipeline's template refuses (nothing of the call is then accepted). With
        ``only``, just the pipelines of those labels take them (a stream window is its window's)."""
        engine = await self.jobs.engine()
        owner = principal.owner
        for url in {p.webhook for e in events for p in self._matching(e.type, only) if p.webhook}:
            await self.core.webhooks.check_submission(url, None)
        planned = [
            (event, self._specs(principal, event, index if len(events) > 1 else None, only))
            for index, event in enumerate(events)
        ]
        known = await self._known(engine, owner, [event.id for event in events])
        fresh = [(event, specs) for event, specs in planned if event.id not in known]
        taken: set[str] = set()
        if fresh and not await self._accept(engine, principal, fresh, headers):
            for one in fresh:  # a concurrent publish took one of these ids: each on its own
                if not await self._accept(engine, principal, [one], headers):
                    taken.add(one[0].id)
        accepted: list[Accepted] = []
        for event, specs in planned:
            labels = tuple(str((spec.metadata or {})["pipeline"]) for spec in specs)
            if event.id in known or event.id in taken:
                accepted.append(Accepted(event.id, known.get(event.id, labels), duplicate=True))
                continue
            accepted.append(Accepted(event.id, labels))
            for label, spec in zip(labels, specs, strict=True):
                self.metrics.accepted_run(label, spec.priority)
        return accepted

    def _matching(self, event_type: str, only: Collection[str] | None) -> list[Pipeline]:
        found = self.pipelines.matching(event_type)
        return found if only is None else [pipeline for pipeline in found if pipeline.label in only]

    def _specs(
        self, principal: Principal, event: Event, index: int | None, only: Collection[str] | None = None
    ) -> list[JobSpec]:
        specs = []
        for pipeline in self._matching(event.type, only):
            try:
                request = pipeline.request(event.json())
            except TemplateRefused as exc:
                where = f"events[{index}]" if index is not None else "payload"
                raise GatewayError(
                    400, "invalid_request_error", f"{where}: pipeline {pipeline.label!r}: {exc}", param=where
                ) from None
            metadata = {
                "event": {"id": event.id, "type": event.type},
                "pipeline": pipeline.label,
                "emit": pipeline.result_type(event.type),
            }
            if pipeline.room is not None:  # scoped as /v1/ws scopes a caller's rooms
                metadata["room"] = f"{principal.room_owner}/{pipeline.room}"
            priority = event.priority or pipeline.priority
            specs.append(JobSpec(request, priority=priority, webhook_url=pipeline.webhook, metadata=metadata))
        return specs

    async def _known(self, engine: JobEngine, owner: str, ids: list[str]) -> dict[str, tuple[str, ...]]:
        """Of ``ids``, those already accepted for ``owner``, with their pipelines."""
        table = engine.database.tables.events
        query = select(table.c.id, table.c.group_id).where((table.c.owner == owner) & table.c.id.in_(ids))
        async with engine.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        known: dict[str, tuple[str, ...]] = {}
        for event_id, group_id in rows:
            runs = await engine.group(group_id)
            known[event_id] = tuple(str((job.metadata or {}).get("pipeline")) for job in runs)
        return known

    async def _accept(
        self,
        engine: JobEngine,
        principal: Principal,
        planned: list[tuple[Event, list[JobSpec]]],
        headers: Mapping[str, str] | None,
    ) -> bool:
        """Record the events and their runs in one transaction; False (nothing recorded) when a
        concurrent publish of one of their ids won."""
        owner = principal.owner
        now = self.clock()
        rows = []
        specs: list[JobSpec] = []
        for event, runs in planned:
            group_id = event_group(owner, event.id)
            rows.append(
                {
                    "owner": owner,
                    "id": event.id,
                    "type": event.type,
                    "payload": event.payload,
                    "priority": event.priority,
                    "group_id": group_id,
                    "runs": len(runs),
                    "received_at": now,
                }
            )
            specs += [replace(spec, group_id=group_id) for spec in runs]
        table = engine.database.tables.events

        async def record(connection: AsyncConnection) -> None:
            await connection.execute(table.insert(), rows)

        try:
            if specs:
                await engine.submit(principal, specs, headers=headers, extra=record, owner=event_owner(owner))
            else:
                async with engine.database.engine.begin() as connection:
                    await record(connection)
        except IntegrityError:
            return False
        return True

    async def get(self, owner: str, event_id: str, *, wait: float = 0.0) -> dict[str, Any] | None:
        """The event's state: its status, its runs and, once processed, its result event(s); with
        ``wait``, once every run has ended (processed or dead), or as it is after ``wait`` seconds."""
        engine = await self.jobs.engine()
        table = engine.database.tables.events
        query = select(table).where((table.c.owner == owner) & (table.c.id == event_id))
        async with engine.database.engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        if row is None:
            return None
        runs = await engine.group(row["group_id"])
        if wait > 0:
            deadline = time.monotonic() + wait
            runs = [
                await engine.wait(job.id, None, max(deadline - time.monotonic(), 0.0)) or job for job in runs
            ]
        results = [job.result for job in runs if job.status == "succeeded" and job.result is not None]
        view: dict[str, Any] = {
            "id": row["id"],
            "object": "event",
            "type": row["type"],
            "status": status_of(runs),
            "received_at": timestamp(row["received_at"]),
            "runs": [run_json(job) for job in runs],
            "results": results,
        }
        if len(runs) == 1:
            view["result"] = results[0] if results else None
        return view

    async def dead(self, owner: str, *, limit: int = 100, after: str | None = None) -> list[dict[str, Any]]:
        """The owner's dead runs (newest first, after the run ``after``), one per event and pipeline."""
        engine = await self.jobs.engine()
        return [_dead_json(job) for job in await self._dead(engine, owner, limit=limit, after=after)]

    async def _dead(
        self,
        engine: JobEngine,
        owner: str,
        *,
        limit: int,
        after: str | None = None,
        events: Sequence[str] = (),
    ) -> list[Job]:
        jobs = engine.store.table
        condition = (
            (jobs.c.owner == event_owner(owner))
            & (jobs.c.status == "failed")
            & jobs.c.group_id.startswith("evt_")
        )
        if events:
            condition = condition & jobs.c.group_id.in_([event_group(owner, event_id) for event_id in events])
        if after is not None:
            condition = condition & (jobs.c.id < after)
        query = select(jobs.c.id).where(condition).order_by(jobs.c.id.desc()).limit(limit)
        async with engine.database.engine.connect() as connection:
            ids = [row[0] for row in (await connection.execute(query)).all()]
        found = [await engine.store.get(job_id) for job_id in ids]
        return [job for job in found if job is not None]

    async def dead_runs(self, limit: int = 50) -> list[Job]:
        """Every owner's dead runs, newest first (for the dashboard; ``dead_view`` shows one)."""
        engine = await self.jobs.engine()
        jobs = engine.store.table
        condition = (jobs.c.status == "failed") & jobs.c.group_id.startswith("evt_")
        query = select(jobs.c.id).where(condition).order_by(jobs.c.finished_at.desc(), jobs.c.id.desc())
        async with engine.database.engine.connect() as connection:
            ids = [row[0] for row in (await connection.execute(query.limit(limit))).all()]
        found = [await engine.store.get(job_id) for job_id in ids]
        return [job for job in found if job is not None]

    async def replay_run(self, run_id: str) -> bool:
        """Queue one dead run again (anyone's: the admin's); False when it is not a dead run."""
        engine = await self.jobs.engine()
        job = await engine.store.get(run_id)
        if job is None or job.status != "failed" or not (job.group_id or "").startswith("evt_"):
            return False
        return run_id in await engine.retry_failed([run_id])

    async def replay(self, owner: str, event_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Queue the owner's dead runs again (of ``event_ids``, else all), each once; what was queued."""
        engine = await self.jobs.engine()
        dead = await self._dead(engine, owner, limit=10_000, events=event_ids)
        queued = set(await engine.retry_failed([job.id for job in dead]))
        return [_dead_json(job) for job in dead if job.id in queued]


def dead_view(job: Job) -> dict[str, Any]:
    """A dead run as its owner reads it in ``GET /v1/events/dead``, and who owns it (``key``: the
    publishing key's id, ``subject``: a token's)."""
    caller = job.caller or {}
    return {**_dead_json(job), "key": caller.get("key"), "subject": caller.get("subject")}


def _dead_json(job: Job) -> dict[str, Any]:
    event = (job.metadata or {}).get("event") or {}
    return {"event_id": event.get("id"), "event_type": event.get("type"), **run_json(job)}
