"""The batches of one gateway: created with their jobs, ended once, read, canceled, deleted.

A batch's requests are jobs of the job engine, one group per batch (``group_id`` = the batch id),
so each runs through the core as its submitter (limits, budget, routing, failover) and writes one
ledger row. A batch ends when its last job has: whichever process sees that first (the engine's
observer where the job ended, or anyone reading the batch) ends it in one conditional write, with
OpenAI's output and error files and the webhook delivery. A batch still running when its window
closes has its unfinished requests canceled and counted ``expired``. Message Batches whose route
asks for it are handed to the upstream's own batch API instead (``_upstream``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate.gateway.batches._files import FileEntry, Files
from claudegate.gateway.batches._records import Batch, BatchApi, BatchRecords, is_batch_id, new_batch_id
from claudegate.gateway.batches._requests import InputLine, openai_input
from claudegate.gateway.batches._upstream import UpstreamBatches
from claudegate.gateway.batches._views import (
    message_batch_json,
    message_result,
    openai_batch_json,
    openai_line,
    usage_totals,
)
from claudegate.gateway.core import ANONYMOUS, GatewayCore, GatewayError, Principal, budget_refusal
from claudegate.gateway.jobs import GroupCounts, Job, JobEngine, JobService, JobSpec
from claudegate.store import write_usage

__all__ = ["BatchService"]

log = logging.getLogger("claudegate.gateway")

_PAGE = 1000


class BatchService:
    """Batches over the job engine of one gateway (see the module docstring)."""

    def __init__(self, core: GatewayCore, jobs: JobService, clock: Callable[[], float] = time.time) -> None:
        self.core = core
        self.jobs = jobs
        self.clock = clock
        self.upstream = UpstreamBatches(core)
        self._records: BatchRecords | None = None
        self._files: Files | None = None
        self._due: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False
        self._recovery: asyncio.Task[None] | None = None
        jobs.on_open.append(self._attach)

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> JobEngine:
        """The job engine (opened on first use), with this service's tables in its database."""
        engine = await self.jobs.engine()
        if self._records is None or self._records.database is not engine.database:
            self._records = BatchRecords(engine.database)
            self._files = Files(engine.database, lambda: self.core.config.batches, self.clock)
        return engine

    @property
    def records(self) -> BatchRecords:
        assert self._records is not None, "open() first"
        return self._records

    @property
    def files(self) -> Files:
        assert self._files is not None, "open() first"
        return self._files

    async def close(self) -> None:
        """Stop ending batches here (before the engine closes: a batch left unended is ended by
        the next process that reads it or ends one of its jobs)."""
        self._closed = True
        # Not cancelled: each is a few short database operations, and one cancelled in the middle
        # of checking a connection out could leave it out of the pool. Left to finish, and nothing
        # more queued for them.
        self._due.clear()
        for task in (self._recovery, self._sweeper):
            if task is not None:
                await asyncio.wait((task,))

    def _attach(self, engine: JobEngine) -> None:
        engine.observers.append(self._observe)
        self._recovery = asyncio.get_running_loop().create_task(self._recover(engine))

    async def _recover(self, engine: JobEngine) -> None:
        """At the engine's start: batches whose last job ended while no process was left to end
        them (a crash, a shutdown) are ended now."""
        try:
            waiting = await BatchRecords(engine.database).unended()
        except Exception:
            log.exception("looking for batches left unended failed; each is ended when next read")
            return
        if self._closed:
            return
        for batch_id in waiting:
            self._due.add(batch_id)
        if waiting and not self._closed and (self._sweeper is None or self._sweeper.done()):
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def _observe(self, job: Job) -> None:
        """A job ended here: its batch may have ended with it (looked at soon, once per batch)."""
        if job.group_id is None or not job.done or self._closed or not is_batch_id(job.group_id):
            return
        self._due.add(job.group_id)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while self._due:
            batch_id = self._due.pop()
            try:
                await self.open()
                batch = await self.records.get(batch_id)
                if batch is not None:
                    await self.settle(batch)
            except Exception:
                log.exception("ending batch %s failed; it is ended when next read", batch_id)

    # -- creating --------------------------------------------------------------------------------

    def _new(
        self, principal: Principal, api: BatchApi, count: int, webhook: str | None, details: dict[str, Any]
    ) -> Batch:
        now = self.clock()
        return Batch(
            id=new_batch_id(api),
            owner=principal.owner,
            api=api,
            created_at=now,
            expires_at=now + self.core.config.batches.window,
            request_count=count,
            cancel_initiated_at=None,
            expired_at=None,
            ended_at=None,
            webhook_url=webhook,
            details=details,
        )

    async def create_messages(
        self,
        principal: Principal,
        requests: list[tuple[str, dict[str, Any]]],
        *,
        headers: Mapping[str, str],
        webhook: str | None,
        base_url: str,
    ) -> Batch:
        """A Message Batch, its requests queued as jobs (or handed to the upstream)."""
        engine = await self.open()
        batch = self._new(principal, "anthropic", len(requests), webhook, {"base_url": base_url})
        handoff = self.upstream.target(principal, requests)
        if handoff is not None:
            await self._check_budget(principal)
            mirror = await self.upstream.create(handoff)
            upstream = {"deployment": handoff.deployment, "id": mirror.get("id")}
            batch = replace(batch, details={**batch.details, "upstream": upstream, "mirror": mirror})
            await self.records.add(batch)
            return batch
        specs = [
            JobSpec(request=params, priority="low", custom_id=custom_id) for custom_id, params in requests
        ]
        await self._submit(engine, principal, batch, specs, headers)
        return batch

    async def _submit(
        self,
        engine: JobEngine,
        principal: Principal,
        batch: Batch,
        specs: list[JobSpec],
        headers: Mapping[str, str],
    ) -> None:
        async def with_batch(connection: AsyncConnection) -> None:
            await self.records.insert(connection, batch)

        await engine.submit(principal, specs, headers=headers, group_id=batch.id, extra=with_batch)

    async def _check_budget(self, principal: Principal) -> None:
        """A key over its budget cannot hand a batch upstream (its requests would run unmetered)."""
        policies = self.core.policies
        budget = principal.key.budget if principal.key is not None else principal.budget
        if policies is None or principal.account is None or budget is None:
            return
        refusal = budget_refusal(
            await policies.counters.spend(principal.account), budget.cost_per_day, budget.cost_per_month
        )
        if refusal is not None:
            raise refusal

    async def create_openai(
        self,
        principal: Principal,
        *,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, Any] | None,
        headers: Mapping[str, str],
        webhook: str | None,
    ) -> Batch:
        """An OpenAI batch of the lines of an uploaded file; ``failed`` at once when a line is bad."""
        engine = await self.open()
        entry = await self.files.get(input_file_id, principal.owner)
        content = await self.files.content(input_file_id, principal.owner) if entry is not None else None
        if entry is None or content is None:
            raise GatewayError(
                404, "not_found_error", f"input_file_id: no such file {input_file_id!r}", "input_file_id"
            )
        if entry.purpose != "batch":
            raise GatewayError(
                400,
                "invalid_request_error",
                "input_file_id: the file's purpose must be 'batch'",
                "input_file_id",
            )
        lines, errors = openai_input(content, endpoint, self.core.config.batches.max_requests)
        details: dict[str, Any] = {
            "endpoint": endpoint,
            "input_file_id": input_file_id,
            "completion_window": completion_window,
            "metadata": metadata,
            "model": lines[0].body.get("model") if lines else None,
        }
        if errors:
            details["errors"] = {"object": "list", "data": [error.json() for error in errors]}
            batch = self._new(principal, "openai", 0, webhook, details)
            batch = replace(batch, ended_at=batch.created_at)
            await self.records.add(batch)
            return batch
        batch = self._new(principal, "openai", len(lines), webhook, details)
        await self._submit(engine, principal, batch, [_openai_spec(line) for line in lines], headers)
        return batch

    # -- reading ---------------------------------------------------------------------------------

    async def find(self, batch_id: str, principal: Principal, api: BatchApi) -> Batch:
        """The caller's batch (anyone else's is the same 404 as an unknown id)."""
        await self.open()
        batch = await self.records.get(batch_id, principal.owner, api)
        if batch is None:
            kind = "message_batch" if api == "anthropic" else "batch"
            raise GatewayError(404, "not_found_error", f"{kind}: no such batch {batch_id!r}")
        return batch

    async def settle(self, batch: Batch) -> tuple[Batch, GroupCounts]:
        """The batch brought up to date: ended (once) when its jobs all have, expired when its
        window has closed; and its jobs' counts."""
        engine = await self.open()
        if "upstream" in batch.details:
            return await self._settle_upstream(engine, batch), GroupCounts()
        counts = await engine.counts(batch.id)
        if batch.ended_at is not None:
            return batch, counts
        now = self.clock()
        if not counts.done and now >= batch.expires_at:
            if await self.records.change(batch.id, {"expired_at": now}, unset="expired_at"):
                await engine.cancel_group(batch.id)
            counts = await engine.counts(batch.id)
            batch = await self.records.get(batch.id) or batch
        if not counts.done:
            return batch, counts
        await self._end(engine, batch, counts)
        return await self.records.get(batch.id) or batch, counts

    async def settle_many(self, batches: list[Batch]) -> list[tuple[Batch, GroupCounts]]:
        """Each batch as ``settle`` gives it, the counts of all read at once: only a batch that
        ends (or expires) now, or one handed upstream, is looked at on its own."""
        engine = await self.open()
        counts = await engine.counts_many([batch.id for batch in batches if "upstream" not in batch.details])
        now = self.clock()
        settled = []
        for batch in batches:
            found = counts.get(batch.id, GroupCounts())
            pending = batch.ended_at is None and (found.done or now >= batch.expires_at)
            if "upstream" in batch.details or pending:
                settled.append(await self.settle(batch))
            else:
                settled.append((batch, found))
        return settled

    async def _end(self, engine: JobEngine, batch: Batch, counts: GroupCounts) -> None:
        now = self.clock()
        values: dict[str, Any] = {"ended_at": now}
        ended = replace(batch, ended_at=now)
        outputs: list[tuple[FileEntry, bytes]] = []
        if batch.api == "openai":
            members = [job async for job in self.members(batch)]
            details, outputs = self._output_files(batch, members)
            values["details"] = details
            ended = replace(ended, details=details)

        async def extra(connection: AsyncConnection) -> None:
            for entry, content in outputs:
                await self.files.insert(connection, entry, content)
            await self._notify(engine, connection, ended, counts)

        if await self.records.change(batch.id, values, extra=extra) and engine.dispatcher is not None:
            engine.dispatcher.wake()

    def _output_files(
        self, batch: Batch, members: list[Job]
    ) -> tuple[dict[str, Any], list[tuple[FileEntry, bytes]]]:
        """OpenAI's output file (succeeded requests) and error file (the others), one line each."""
        good: list[bytes] = []
        bad: list[bytes] = []
        for job in members:
            ok, line = openai_line(batch, job)
            (good if ok else bad).append(orjson.dumps(line))
        details = {**batch.details, "usage": usage_totals(members)}
        outputs = []
        for lines, name, field in ((good, "output", "output_file_id"), (bad, "error", "error_file_id")):
            if not lines:
                continue
            content = b"\n".join(lines) + b"\n"
            entry = self.files.entry(batch.owner, "batch_output", f"{batch.id}_{name}.jsonl", len(content))
            details[field] = entry.id
            outputs.append((entry, content))
        return details, outputs

    async def _notify(
        self, engine: JobEngine, connection: AsyncConnection, batch: Batch, counts: GroupCounts
    ) -> None:
        """The batch's webhook delivery, written with its end."""
        if batch.webhook_url is None or engine.dispatcher is None:
            return
        if batch.api == "anthropic":
            data = self.message_json(batch, counts, str(batch.details.get("base_url", "")))
            event = "message_batch.ended"
        else:
            data = openai_batch_json(batch, counts)
            event = "batch." + data["status"]
        ids, due = await engine.deliveries.add(
            connection, [(batch.id, batch.owner, batch.webhook_url, event, data)]
        )
        await engine.dispatcher.enqueue(connection, "delivery", ids, [1], due)

    def message_json(self, batch: Batch, counts: GroupCounts, base_url: str) -> dict[str, Any]:
        """A Message Batch as the API shows it (a handed-off one as its upstream reports it)."""
        view = message_batch_json(batch, counts, base_url, self.clock())
        mirror = batch.details.get("mirror")
        if isinstance(mirror, dict):
            for name in (
                "processing_status",
                "request_counts",
                "ended_at",
                "expires_at",
                "cancel_initiated_at",
                "archived_at",
            ):
                if name in mirror:
                    view[name] = mirror[name]
            if mirror.get("processing_status") != "ended" or mirror.get("archived_at"):
                view["results_url"] = None
        return view

    async def members(self, batch: Batch) -> AsyncIterator[Job]:
        """The batch's jobs, a page at a time."""
        engine = await self.open()
        after: str | None = None
        while True:
            page = await engine.group(batch.id, after=after, limit=_PAGE)
            for job in page:
                yield job
            if len(page) < _PAGE:
                return
            after = page[-1].id

    # -- acting ----------------------------------------------------------------------------------

    async def cancel(self, batch: Batch) -> tuple[Batch, GroupCounts]:
        """Ask the batch to stop: what has not run ends ``canceled``. The answer shows it
        canceling (as the API answers); it has ended by the next read."""
        engine = await self.open()
        if "upstream" in batch.details:
            upstream = batch.details["upstream"]
            mirror = await self.upstream.cancel(upstream["deployment"], upstream["id"])
            values = {"details": {**batch.details, "mirror": mirror}, "cancel_initiated_at": self.clock()}
            await self.records.change(batch.id, values)
            return await self.records.get(batch.id) or batch, GroupCounts()
        if batch.ended_at is not None:
            return batch, await engine.counts(batch.id)
        now = self.clock()
        await self.records.change(batch.id, {"cancel_initiated_at": now}, unset="cancel_initiated_at")
        await engine.cancel_group(batch.id)
        current = await self.records.get(batch.id) or batch
        answer = current, await engine.counts(batch.id)
        await self.settle(current)
        return answer

    async def delete(self, batch: Batch) -> None:
        """Remove an ended batch, its jobs and (upstream) its upstream batch; a 400 before it ended."""
        engine = await self.open()
        batch, _ = await self.settle(batch)
        if batch.ended_at is None:
            raise GatewayError(
                400,
                "invalid_request_error",
                f"message_batch {batch.id} is still processing; cancel it and wait for it to end first",
            )
        if "upstream" in batch.details:
            upstream = batch.details["upstream"]
            await self.upstream.delete(upstream["deployment"], upstream["id"])
        await engine.delete_group(batch.id)
        await self.records.delete(batch.id)

    async def message_results(self, batch: Batch) -> AsyncIterator[bytes]:
        """A Message Batch's results, one JSON line per request (an upstream's as it sent them)."""
        if "upstream" in batch.details:
            upstream = batch.details["upstream"]
            yield await self.upstream.results(upstream["deployment"], upstream["id"])
            return
        async for job in self.members(batch):
            yield orjson.dumps(message_result(batch, job)) + b"\n"

    async def _settle_upstream(self, engine: JobEngine, batch: Batch) -> Batch:
        """Refresh a handed-off batch from its upstream; once it has ended there, write its ledger
        rows and webhook with its end (once)."""
        upstream = batch.details["upstream"]
        if batch.ended_at is not None:
            return batch
        mirror = await self.upstream.retrieve(upstream["deployment"], upstream["id"])
        details = {**batch.details, "mirror": mirror}
        if mirror.get("processing_status") != "ended":
            await self.records.change(batch.id, {"details": details})
            return replace(batch, details=details)
        raw = await self.upstream.results(upstream["deployment"], upstream["id"])
        lines = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
        account = None if batch.owner == ANONYMOUS else batch.owner
        rows, cost = self.upstream.ledger_rows(batch.id, account, upstream["deployment"], lines)
        ended = replace(batch, details=details, ended_at=self.clock())
        database = engine.database

        async def extra(connection: AsyncConnection) -> None:
            if rows and self.core.policies is not None and self.core.policies.writer is not None:
                await write_usage(connection, database, rows)
            await self._notify(engine, connection, ended, GroupCounts())

        if await self.records.change(batch.id, {"details": details, "ended_at": ended.ended_at}, extra=extra):
            policies = self.core.policies
            if policies is not None and account is not None and cost > 0:
                await policies.counters.add_spend(account, cost)
            if engine.dispatcher is not None:
                engine.dispatcher.wake()
        return await self.records.get(batch.id) or ended

    async def recent(self, limit: int = 50) -> list[tuple[Batch, GroupCounts]]:
        """Every owner's batches newest first, each brought up to date (for the dashboard)."""
        await self.open()
        return await self.settle_many(await self.records.recent(limit))

    async def cancel_any(self, batch_id: str) -> tuple[Batch, GroupCounts]:
        """``cancel`` of anyone's batch (the admin's); a 404 for an unknown id."""
        await self.open()
        batch = await self.records.get(batch_id)
        if batch is None:
            raise GatewayError(404, "not_found_error", f"no batch {batch_id!r}")
        return await self.cancel(batch)

    async def page(
        self, principal: Principal, api: BatchApi, *, after: str | None, before: str | None, limit: int
    ) -> tuple[list[tuple[Batch, GroupCounts]], bool]:
        """The caller's batches newest first, each brought up to date; and whether more follow."""
        await self.open()
        found = await self.records.page(principal.owner, api, after=after, before=before, limit=limit)
        return [await self.settle(batch) for batch in found.batches], found.has_more


def _openai_spec(line: InputLine) -> JobSpec:
    return JobSpec(request=line.body, dialect="openai", priority="low", custom_id=line.custom_id)
