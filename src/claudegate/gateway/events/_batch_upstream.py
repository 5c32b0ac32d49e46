"""A group of batched event runs sent as one upstream Message Batch, at the batch price.

When the pipeline's model goes to a route with ``batches: {upstream: true}`` and an ``anthropic``
deployment (as for a client's Message Batch, see ``claudegate.gateway.batches``), the first model
turn of every run of the group is one request of one batch on that deployment. The gateway asks
the upstream how the batch is going every ``poll`` seconds; once it has ended, each run takes its
own line of the results:

- answered: the turn's ledger row is written (the run's key, the deployment, the usage, the cost
  at ``BATCH_DISCOUNT`` of the listed price) and the cost added to the key's budget; a run whose
  model asked for tools goes on turn by turn through the core, as any run;
- errored: the run's attempt fails with the upstream's error (retried when that is retryable);
- canceled, expired or missing: the attempt fails as retryable.

Before the batch is sent, a run whose key may not use the model, or whose key is over its budget,
fails on its own (the batch's requests do not pass the core's per-request limits, as with a
client's Message Batch handed upstream). A group cancelled while its batch runs (the gateway
stops) cancels the upstream batch, best effort; its runs are claimed again later and sent anew.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from claudegate.errors import ERROR_TYPE_STATUS
from claudegate.gateway.batches import BATCH_DISCOUNT, Handoff, UpstreamBatches, batch_usage_record
from claudegate.gateway.core import GatewayCore, GatewayError, Principal, budget_refusal, shown, usage_cost
from claudegate.gateway.events._group import Member, answer_with, cancel_with
from claudegate.gateway.events._run import FirstTurn
from claudegate.gateway.jobs import Attempt, retryable

if TYPE_CHECKING:
    from claudegate.gateway.events._pipelines import Pipeline
    from claudegate.gateway.events._run import PipelineRunner

__all__ = ["UpstreamGroup"]

log = logging.getLogger("claudegate.gateway")

_ANYONE = Principal()
_POLL_ERRORS = 5
"""Failed looks at an upstream batch in a row before its runs fail (retryable)."""


class UpstreamGroup:
    """Runs groups through upstream Message Batches (see the module docstring)."""

    def __init__(
        self,
        core: GatewayCore,
        runner: PipelineRunner,
        *,
        poll: float = 15.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.core = core
        self.runner = runner
        self.batches = UpstreamBatches(core)
        self.poll = poll
        """Seconds between looks at an upstream batch under way."""
        self.sleep = sleep
        self._cancels: set[asyncio.Task[None]] = set()

    def handoff(self, pipeline: Pipeline, group: list[Member]) -> Handoff | None:
        """Where the group goes upstream, or None when its route does not send batches upstream."""
        requests = [(member.job.id, member.job.request) for member in group if not member.answer.done()]
        if not requests:
            return None
        try:
            return self.batches.target(_ANYONE, requests)
        except GatewayError:
            return None

    async def close(self) -> None:
        """Wait (briefly) for the cancellations of upstream batches left behind."""
        if self._cancels:
            await asyncio.wait(set(self._cancels), timeout=5.0)

    async def run(self, pipeline: Pipeline, group: list[Member], handoff: Handoff, group_id: str) -> None:
        """Send the group's first turns as one upstream batch and end each run from its line."""
        members = {}
        for member in group:
            if member.answer.done():
                continue
            refusal = await self._refusal(member, pipeline.model)
            if refusal is not None:
                member.answer.set_result(Attempt(None, error=refusal))
            else:
                members[member.job.id] = member
        if not members:
            return
        requests = [request for request in handoff.requests if request["custom_id"] in members]
        deployment = handoff.deployment
        started = time.perf_counter()
        try:
            mirror = await self.batches.create(Handoff(deployment, requests))
        except GatewayError as exc:
            _fail(members.values(), exc)
            return
        upstream_id = str(mirror.get("id"))
        try:
            lines = await self._results(deployment, upstream_id, mirror, members)
        except asyncio.CancelledError:
            self._cancel_upstream(deployment, upstream_id)
            raise
        if lines is None:
            return
        grouped = {
            "id": group_id,
            "size": len(group),
            "mode": "upstream",
            "upstream": {"deployment": deployment, "id": upstream_id},
        }
        latency = (time.perf_counter() - started) * 1000
        await self._finish(pipeline, members, lines, deployment, latency, grouped)

    async def _refusal(self, member: Member, model: str) -> GatewayError | None:
        """Why the run's key cannot have its turn in a batch: the model is not its, or its budget
        is spent."""
        principal = member.principal
        if not principal.may_use(model):
            return GatewayError(
                403, "permission_error", f"this {principal.kind} may not use model {shown(model)!r}", "model"
            )
        policies = self.core.policies
        budget = principal.key.budget if principal.key is not None else principal.budget
        if policies is None or principal.account is None or budget is None:
            return None
        spent = await policies.counters.spend(principal.account)
        return budget_refusal(spent, budget.cost_per_day, budget.cost_per_month)

    async def _results(
        self, deployment: str, upstream_id: str, mirror: dict[str, Any], members: dict[str, Member]
    ) -> dict[str, dict[str, Any]] | None:
        """The batch's result lines by ``custom_id`` once it has ended; None when its runs were
        ended otherwise (every one left, or the upstream could not be asked)."""
        errors = 0
        while mirror.get("processing_status") != "ended":
            if all(member.answer.done() for member in members.values()):
                self._cancel_upstream(deployment, upstream_id)
                return None
            await self.sleep(self.poll)
            try:
                mirror = await self.batches.retrieve(deployment, upstream_id)
                errors = 0
            except GatewayError as exc:
                errors += 1
                if errors >= _POLL_ERRORS or not retryable(exc):
                    _fail(members.values(), exc)
                    return None
        try:
            raw = await self.batches.results(deployment, upstream_id)
        except GatewayError as exc:
            _fail(members.values(), exc)
            return None
        lines = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
        return {str(line.get("custom_id")): line for line in lines if isinstance(line, dict)}

    async def _finish(
        self,
        pipeline: Pipeline,
        members: dict[str, Member],
        lines: dict[str, dict[str, Any]],
        deployment: str,
        latency: float,
        grouped: dict[str, Any],
    ) -> None:
        loop = asyncio.get_running_loop()
        runs: list[tuple[Member, asyncio.Task[Attempt]]] = []
        for job_id, member in members.items():
            if member.answer.done():
                continue
            result = (lines.get(job_id) or {}).get("result") or {}
            kind = result.get("type")
            if kind == "succeeded":
                first = self._answered(member, result.get("message") or {}, deployment, latency)
                run = self.runner.run(
                    pipeline, member.job, member.principal, member.headers, member.request_id, first
                )
                task = loop.create_task(run)
                member.answer.add_done_callback(cancel_with(task))
                runs.append((member, task))
                continue
            if kind == "errored":
                error = _upstream_error(result.get("error"))
                self._record(member, {}, pipeline.model, deployment, 0.0, latency, error.status)
            else:
                error = GatewayError(
                    502,
                    "api_error",
                    f"the upstream batch ended without answering this run ({kind or 'missing'})",
                )
            member.answer.set_result(Attempt(None, error=error))
        await answer_with(runs, grouped)

    def _answered(
        self, member: Member, message: dict[str, Any], deployment: str, latency: float
    ) -> FirstTurn:
        """A run's answered first turn: its ledger row written and its cost added to the key's budget."""
        found = message.get("usage")
        usage: dict[str, Any] = found if isinstance(found, dict) else {}
        model = str(message.get("model") or member.job.request.get("model") or "unknown")
        cost = usage_cost(model, usage) * BATCH_DISCOUNT
        self._record(member, usage, model, deployment, cost, latency, 200)
        self.core.metrics.record_usage(self.core.runtime.labels.label(model, True), usage)
        policies, account = self.core.policies, member.principal.account
        if policies is not None and account is not None and cost > 0:
            task = asyncio.get_running_loop().create_task(policies.counters.add_spend(account, cost))
            task.add_done_callback(_logged)
        return FirstTurn(message, dict(usage), cost)

    def _record(
        self,
        member: Member,
        usage: dict[str, Any],
        model: str,
        deployment: str,
        cost: float,
        latency: float,
        status: int,
    ) -> None:
        policies = self.core.policies
        if policies is None or policies.writer is None:
            return
        policies.writer.record(
            batch_usage_record(
                f"{member.request_id}_1",
                member.principal.account,
                model,
                deployment,
                usage,
                cost=cost,
                status=status,
                time=datetime.fromtimestamp(self.core.clock(), UTC),
                latency_ms=latency,
            )
        )

    def _cancel_upstream(self, deployment: str, upstream_id: str) -> None:
        async def cancel() -> None:
            await self.batches.cancel(deployment, upstream_id)

        task = asyncio.get_running_loop().create_task(cancel())
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)
        task.add_done_callback(_logged)


def _fail(members: Iterable[Member], error: GatewayError) -> None:
    for member in members:
        if not member.answer.done():
            member.answer.set_result(Attempt(None, error=error))


def _upstream_error(body: Any) -> GatewayError:
    """A batch line's error (an Anthropic error envelope) as the run's."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    kind = str(error.get("type") or "api_error")
    return GatewayError(ERROR_TYPE_STATUS.get(kind, 500), kind, str(error.get("message") or ""))


def _logged(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("an upstream batch's follow-up failed: %s", type(task.exception()).__name__)
