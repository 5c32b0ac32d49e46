"""Batching: a pipeline's low-priority runs grouped (``batch: {size: N, wait: 30s}``).

A low-priority run of a pipeline with ``batch`` is claimed by the job engine like any other; its
attempt then waits here, in its pipeline's lane, for company. A lane sends a group of at most
``size`` runs as soon as ``size`` wait, or once its oldest has waited ``wait`` seconds (by the
batcher's clock; ``flush_due`` looks again now). A group is one unit of work:

- **upstream**: when the pipeline's model goes to a route with ``batches: {upstream: true}`` and an
  ``anthropic`` deployment, the group's first turns are one upstream Message Batch, charged at the
  batch price (``_batch_upstream.py``);
- **direct**: otherwise each run makes its own calls, all of the group at once, within the
  pipeline's ``concurrency``.

Each run still ends on its own: its result event, status and ledger rows are its own, a failure
fails only it (retried with backoff, dead-lettered after ``jobs.max_attempts``, as any run). The
runs of a group hold their job's lease while they wait and while the group runs (the engine
renews it), so a crash leaves them to be claimed again; the engine's end-once write keeps a run
that lost its lease from ending twice.

Waiting runs are *parked* (``JobEngine.park``): not counted against ``jobs.workers`` nor
``jobs.per_key``, so a group can fill past them. A lane parks at most ``size × (concurrency + 1)``
runs (a group filling, ``concurrency`` groups running); runs beyond that are counted, which holds
the engine back from claiming more. At most ``concurrency`` groups of a pipeline run at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from claudegate.gateway.core import GatewayCore, GatewayError, Principal
from claudegate.gateway.events._batch_upstream import UpstreamGroup
from claudegate.gateway.events._group import Member, answer_with, cancel_with
from claudegate.gateway.events._metrics import EventMetrics
from claudegate.gateway.jobs import Attempt, Job

if TYPE_CHECKING:
    from claudegate.gateway.events._pipelines import Pipeline
    from claudegate.gateway.events._run import PipelineRunner
    from claudegate.gateway.jobs import JobEngine

__all__ = ["EventBatcher"]

log = logging.getLogger("claudegate.gateway")


@dataclass(slots=True, eq=False)
class _Lane:
    """One pipeline's waiting runs and groups under way."""

    waiting: deque[Member] = field(default_factory=deque)
    running: int = 0
    """Groups under way."""
    parked: int = 0
    """Members parked (waiting or in a group under way)."""
    timer: asyncio.TimerHandle | None = None


class EventBatcher:
    """Groups the batched runs of every pipeline (see the module docstring)."""

    def __init__(
        self,
        core: GatewayCore,
        runner: PipelineRunner,
        metrics: EventMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self.runner = runner
        self.metrics = metrics
        self.clock = clock
        self.upstream = UpstreamGroup(core, runner)
        self.engine: JobEngine | None = None
        """The job engine whose runs wait here (set when it opens): it parks them."""
        self._lanes: dict[str, _Lane] = {}
        self._groups: set[asyncio.Task[None]] = set()
        metrics.waiting = self.waiting

    def waiting(self) -> dict[str, int]:
        """Runs waiting for their group, by pipeline."""
        return {label: len(lane.waiting) for label, lane in self._lanes.items() if lane.waiting}

    @staticmethod
    def parking(pipeline: Pipeline) -> int:
        """How many of a pipeline's runs may be parked at once."""
        assert pipeline.batch is not None
        return pipeline.batch.size * (pipeline.concurrency + 1)

    async def join(
        self, pipeline: Pipeline, job: Job, principal: Principal, headers: dict[str, str], request_id: str
    ) -> Attempt:
        """The attempt of a batched run: once its group has run it. Cancelled (the job was canceled,
        its lease lost, the engine closing), it leaves its group and writes nothing."""
        loop = asyncio.get_running_loop()
        member = Member(job, principal, headers, request_id, self.clock(), loop.create_future())
        lane = self._lanes.get(pipeline.label)
        if lane is None:
            lane = self._lanes[pipeline.label] = _Lane()
        engine = self.engine
        if engine is not None and lane.parked < self.parking(pipeline) and engine.park(job.id):
            member.parked = True
            lane.parked += 1
        lane.waiting.append(member)
        self._consider(pipeline, lane)
        try:
            return await member.answer
        finally:
            if member.parked:
                lane.parked -= 1
            if not member.answer.done():
                member.answer.cancel()
            if member in lane.waiting:
                lane.waiting.remove(member)
                self._consider(pipeline, lane)

    def flush_due(self) -> None:
        """Send now the groups that are due by the clock (as the lanes' timers do when they fire)."""
        for label, lane in list(self._lanes.items()):
            pipeline = self.runner.pipelines.get(label)
            if pipeline is not None:
                self._consider(pipeline, lane)

    async def close(self) -> None:
        """Stop the timers and the groups under way (their runs' leases lapse: they run again)."""
        for lane in self._lanes.values():
            if lane.timer is not None:
                lane.timer.cancel()
                lane.timer = None
        groups = list(self._groups)
        for task in groups:
            task.cancel()
        if groups:
            await asyncio.wait(groups)
        await self.upstream.close()

    # -- forming groups ----------------------------------------------------------------------

    def _consider(self, pipeline: Pipeline, lane: _Lane) -> None:
        """Send the groups that are full or due, while the pipeline may run more; then set the
        timer for the oldest run still waiting."""
        batch = pipeline.batch
        assert batch is not None
        if lane.timer is not None:
            lane.timer.cancel()
            lane.timer = None
        while lane.waiting and lane.running < pipeline.concurrency:
            full = len(lane.waiting) >= batch.size
            if not full and self.clock() - lane.waiting[0].joined < batch.wait:
                break
            group = [lane.waiting.popleft() for _ in range(min(batch.size, len(lane.waiting)))]
            self._start(pipeline, lane, group)
        if lane.waiting and lane.running < pipeline.concurrency:
            delay = max(lane.waiting[0].joined + batch.wait - self.clock(), 0.0)
            lane.timer = asyncio.get_running_loop().call_later(delay, self._consider, pipeline, lane)

    def _start(self, pipeline: Pipeline, lane: _Lane, group: list[Member]) -> None:
        lane.running += 1
        task = asyncio.get_running_loop().create_task(self._run(pipeline, group))
        self._groups.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._groups.discard(task)
            lane.running -= 1
            if not task.cancelled() and task.exception() is not None:
                log.error(
                    "a group of batched event runs failed inside the gateway", exc_info=task.exception()
                )
            if lane.waiting:
                self._consider(pipeline, lane)

        task.add_done_callback(done)

    # -- running a group -----------------------------------------------------------------------

    async def _run(self, pipeline: Pipeline, group: list[Member]) -> None:
        group_id = "evb_" + os.urandom(12).hex()
        handoff = self.upstream.handoff(pipeline, group)
        mode = "upstream" if handoff is not None else "direct"
        self.metrics.batch(pipeline.label, len(group), mode)
        try:
            if handoff is not None:
                await self.upstream.run(pipeline, group, handoff, group_id)
            else:
                await self._direct(pipeline, group, group_id)
        except Exception as exc:
            log.exception("a group of batched runs of pipeline %r failed", pipeline.label)
            failed = GatewayError(500, "api_error", f"the group of batched runs failed: {type(exc).__name__}")
            for member in group:
                if not member.answer.done():
                    member.answer.set_result(Attempt(None, error=failed))
        finally:
            for member in group:  # cancelled: nothing is written, the leases lapse
                if not member.answer.done():
                    member.answer.cancel()

    async def _direct(self, pipeline: Pipeline, group: list[Member], group_id: str) -> None:
        """Each run of the group makes its own calls, all at once (within ``concurrency``)."""
        loop = asyncio.get_running_loop()
        runs: list[tuple[Member, asyncio.Task[Attempt]]] = []
        for member in group:
            if member.answer.done():  # left while waiting to be sent
                continue
            task = loop.create_task(
                self.runner.run(pipeline, member.job, member.principal, member.headers, member.request_id)
            )
            member.answer.add_done_callback(cancel_with(task))
            runs.append((member, task))
        await answer_with(runs, {"id": group_id, "size": len(group), "mode": "direct"})
