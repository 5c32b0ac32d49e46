"""The embedded dispatcher: the store's tables are the queue and this process runs the workers.

One loop claims due jobs (priorities picked weighted fair — high 6 : medium 3 : low 1, so high
goes first and low never starves, see ``_fair.py``; owners at their ``jobs.per_key`` skipped) as
long as workers are free, and starts an attempt for each; another makes due webhook deliveries.
Each sleeps until woken (a submit, an attempt's end, a retry) or until the next job is due or
the next lease expires, at most ``jobs.poll`` seconds. A job whose worker died (its lease expired)
is due again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from claudegate.gateway.jobs._fair import FairPicker, choose

if TYPE_CHECKING:
    from claudegate.gateway.jobs._engine import JobEngine

__all__ = ["EmbeddedDispatcher"]

log = logging.getLogger("claudegate.gateway")

_DELIVERY_WORKERS = 16


class EmbeddedDispatcher:
    """Due work from the store, run in this process (see the module docstring)."""

    def __init__(self, engine: JobEngine) -> None:
        self.engine = engine
        self._wake = asyncio.Event()
        self._wake_deliveries = asyncio.Event()
        self._deliveries_added = False
        self._tasks: list[asyncio.Task[None]] = []
        self._attempts: set[asyncio.Task[None]] = set()
        self._closing = False
        self.picker = FairPicker()
        """The order due jobs of the three priorities are claimed in (weighted fair)."""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._jobs()), loop.create_task(self._deliveries())]

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._attempts:  # their calls are cancelled: they only write how they ended
            await asyncio.wait(set(self._attempts))

    async def enqueue(
        self, connection: AsyncConnection, kind: str, ids: Sequence[str], priorities: Sequence[int], at: float
    ) -> None:
        """Nothing to add: a row in the store is its own queue entry (a delivery's wakes the
        delivery loop at the next ``wake``; a job's end alone does not)."""
        if kind == "delivery":
            self._deliveries_added = True

    def wake(self) -> None:
        self._wake.set()
        if self._deliveries_added:
            self._deliveries_added = False
            self._wake_deliveries.set()

    async def _sleep(self, wake: asyncio.Event, next_due: float | None) -> None:
        engine = self.engine
        timeout = engine.config.poll
        if next_due is not None:
            timeout = min(timeout, max(next_due - engine.clock(), 0.0))
        try:
            await asyncio.wait_for(wake.wait(), timeout)
        except TimeoutError:
            pass

    async def _jobs(self) -> None:
        engine, store = self.engine, self.engine.store
        while not self._closing:
            self._wake.clear()
            started = 0
            try:
                free = self._free()
                if free > 0:
                    now = engine.clock()
                    due = await store.due_by_priority(now, free, engine.saturated())
                    chosen = choose(self.picker, due, free, engine.config.per_key, engine.owner_load)
                    if chosen:
                        for job in await store.claim_many(chosen, engine.worker, now, engine.config.lease):
                            self._spawn(engine.run(job))
                            started += 1
                next_due = None if started or self._free() <= 0 else await store.next_due()
            except Exception:
                log.exception("claiming due jobs failed")
                next_due = None
            if started and self._free() > 0:
                continue  # more may be due at once
            await self._sleep(self._wake, next_due)

    def _free(self) -> int:
        """Workers free: an attempt counts from its claim (before it registers as running) until
        its end, unless it is parked."""
        engine = self.engine
        return min(engine.free, engine.config.workers - len(self._attempts) + len(engine.parked))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._attempts.add(task)
        task.add_done_callback(self._attempt_done)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._attempts.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a job attempt failed inside the gateway", exc_info=task.exception())
        self._wake.set()

    async def _deliveries(self) -> None:
        deliveries = self.engine.deliveries
        running: set[asyncio.Task[float | None]] = set()
        while not self._closing:
            self._wake_deliveries.clear()
            next_due: float | None = None
            started = 0
            try:
                if deliveries.sender is not None:
                    free = _DELIVERY_WORKERS - len(running)
                    for webhook_id in await deliveries.due(free) if free > 0 else []:
                        task = asyncio.get_running_loop().create_task(deliveries.run(webhook_id))
                        running.add(task)
                        task.add_done_callback(self._delivery_done(running))
                        started += 1
                    # While some run, each one's end wakes this loop: no need to look ahead.
                    next_due = None if running else await deliveries.next_due()
            except Exception:
                log.exception("claiming due webhook deliveries failed")
            if started and len(running) < _DELIVERY_WORKERS:
                continue  # more may be due at once
            await self._sleep(self._wake_deliveries, next_due)

    def _delivery_done(
        self, running: set[asyncio.Task[float | None]]
    ) -> Callable[[asyncio.Task[float | None]], None]:
        def done(task: asyncio.Task[float | None]) -> None:
            running.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.error("a webhook delivery failed inside the gateway", exc_info=task.exception())
            self._wake_deliveries.set()

        return done
