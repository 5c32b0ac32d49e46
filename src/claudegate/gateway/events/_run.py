"""One run of a pipeline for one event: the tool-use loop through the gateway core.

Each model turn is a ``Call`` the core runs as any other (the submitter's limits, budget, routing,
failover; its ledger row written by the core: a turn that was answered was used, whether or not the
run ends). The tools of a turn run in parallel under their own policies; a tool that fails (it
raised, or timed out) fails the attempt with a retryable error, so the job engine retries it with
backoff and dead-letters the event after ``jobs.max_attempts``. Arguments the model got wrong go
back to the model, as the tool runtime does. Runs of one pipeline in one process are capped by its
``concurrency``. A low-priority run of a pipeline with ``batch`` joins a group (``EventBatcher``)
instead of running on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from claudegate.gateway.core import Call, GatewayCore, GatewayError, Principal, classify
from claudegate.gateway.events._pipelines import Pipeline, Pipelines
from claudegate.gateway.jobs import PRIORITIES, Attempt, Job
from claudegate.tools import ToolCall, ToolExecutor, ToolResult

if TYPE_CHECKING:
    from claudegate.gateway.events._batching import EventBatcher

__all__ = ["FirstTurn", "PipelineRunner", "result_event"]

_LOW = PRIORITIES["low"]

_FAILED = ("error", "timeout")
"""Tool outcomes that fail the attempt (others — bad arguments, an unknown tool — go back to the model)."""

_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def result_event(
    job: Job, pipeline: str, message: dict[str, Any], tools: list[dict[str, Any]], totals: dict[str, Any]
) -> dict[str, Any]:
    """The event a run emits: what it answered, the tools it called, its usage, cost and latency."""
    event = (job.metadata or {}).get("event") or {}
    text = "".join(
        block.get("text", "") for block in message.get("content", []) if block.get("type") == "text"
    )
    return {
        "id": "evr_" + job.id[4:],
        "type": (job.metadata or {}).get("emit"),
        "event_id": event.get("id"),
        "event_type": event.get("type"),
        "pipeline": pipeline,
        "output": text,
        "message": message,
        "tool_calls": tools,
        **totals,
    }


@dataclass(frozen=True, slots=True)
class FirstTurn:
    """A run's first model answer, had already (from an upstream batch): its message, usage and
    cost (its ledger row written)."""

    message: dict[str, Any]
    usage: dict[str, Any]
    cost: float


class PipelineRunner:
    """The job engine's runner of event jobs (``group_id`` ``evt_…``)."""

    def __init__(
        self, core: GatewayCore, pipelines: Pipelines, clock: Callable[[], float] = time.perf_counter
    ):
        self.core = core
        self.pipelines = pipelines
        self.clock = clock
        self._executors: dict[str, ToolExecutor] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self.batcher: EventBatcher | None = None
        """Where the low-priority runs of pipelines with ``batch`` go (set by the bus)."""

    def _executor(self, pipeline: Pipeline) -> ToolExecutor:
        executor = self._executors.get(pipeline.label)
        if executor is None:
            executor = self._executors[pipeline.label] = ToolExecutor(pipeline.registry)
        return executor

    async def __call__(
        self, job: Job, principal: Principal, headers: dict[str, str], request_id: str
    ) -> Attempt:
        label = str((job.metadata or {}).get("pipeline"))
        pipeline = self.pipelines.get(label)
        if pipeline is None:
            error = GatewayError(
                400, "invalid_request_error", f"pipeline {label!r} is not configured on this gateway"
            )
            return Attempt(None, error=error)
        batcher = self.batcher
        if batcher is not None and pipeline.batch is not None and job.priority == _LOW:
            return await batcher.join(pipeline, job, principal, headers, request_id)
        return await self.run(pipeline, job, principal, headers, request_id)

    async def run(
        self,
        pipeline: Pipeline,
        job: Job,
        principal: Principal,
        headers: dict[str, str],
        request_id: str,
        first: FirstTurn | None = None,
    ) -> Attempt:
        """One run of ``job`` (from its ``first`` turn's answer, when given), within the pipeline's
        ``concurrency``."""
        slots = self._slots.get(pipeline.label)
        if slots is None:
            slots = self._slots[pipeline.label] = asyncio.Semaphore(pipeline.concurrency)
        async with slots:
            return await self._run(job, pipeline, principal, headers, request_id, first)

    async def _run(
        self,
        job: Job,
        pipeline: Pipeline,
        principal: Principal,
        headers: dict[str, str],
        request_id: str,
        first: FirstTurn | None,
    ) -> Attempt:
        started = self.clock()
        transcript = list(job.request["messages"])
        usage = dict.fromkeys(_USAGE_FIELDS, 0)
        cost = 0.0
        made: list[dict[str, Any]] = []
        message: dict[str, Any] = {}
        for turn in range(1, pipeline.max_iterations + 1):
            if turn == 1 and first is not None:
                message, used, spent = first.message, first.usage, first.cost
            else:
                body = {**job.request, "messages": transcript}
                raw = orjson.dumps(body)
                call = Call(
                    principal,
                    "anthropic",
                    body,
                    raw=raw,
                    size=len(raw),
                    headers=headers,
                    request_id=f"{request_id}_{turn}",
                )
                try:
                    message = (await self.core.create(call)).message
                except Exception as exc:
                    return Attempt(None, error=classify(exc))
                used, spent = call.outcome.usage, call.outcome.cost
            for name in _USAGE_FIELDS:
                usage[name] += int(used.get(name) or 0)
            cost += spent
            transcript.append({"role": "assistant", "content": message.get("content", [])})
            if message.get("stop_reason") != "tool_use":
                break
            calls = [
                ToolCall.from_block(block) for block in message["content"] if block.get("type") == "tool_use"
            ]
            results = await self._executor(pipeline).run_many(calls)
            made += [_made(call_, result) for call_, result in zip(calls, results, strict=True)]
            failed = next((result for result in results if result.outcome in _FAILED), None)
            if failed is not None:
                error = GatewayError(502, "api_error", f"tool {failed.name} failed: {failed.content}")
                return Attempt(None, error=error)
            transcript.append({"role": "user", "content": [result.to_block() for result in results]})
        totals = {
            "stop_reason": message.get("stop_reason"),
            "usage": {**usage, "requests": turn},
            "cost": cost,
            "latency_ms": round((self.clock() - started) * 1000, 3),
        }
        return Attempt(None, result=result_event(job, pipeline.label, message, made, totals))


def _made(call: ToolCall, result: ToolResult) -> dict[str, Any]:
    return {
        "id": call.id,
        "name": call.name,
        "input": call.input,
        "output": result.content,
        "is_error": result.is_error,
    }
