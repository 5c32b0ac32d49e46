"""A pipeline run in isolation (``PipelineRunner``, a stand-in core): a pipeline's
``concurrency`` caps its runs at once, and a tool failure fails the attempt (retryable)."""

from __future__ import annotations

import asyncio
from typing import Any

from claudegate.gateway.core import Call, Principal
from claudegate.gateway.events import Pipeline, PipelineRunner, Pipelines
from claudegate.gateway.jobs import Job, retryable
from claudegate.providers import ProviderResponse
from tests.gateway import _event_tools


class _Core:
    """Answers every call with the text ``done`` once ``release`` is set; counts calls inside."""

    def __init__(self, tool: str | None = None) -> None:
        self.release = asyncio.Event()
        self.inside = 0
        self.peak = 0
        self.entered = asyncio.Condition()
        self.tool = tool

    async def create(self, call: Call) -> ProviderResponse:
        async with self.entered:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            self.entered.notify_all()
        try:
            await self.release.wait()
        finally:
            self.inside -= 1
        call.outcome.usage = {"input_tokens": 3, "output_tokens": 1}
        turns = [m for m in call.request["messages"] if m["role"] == "assistant"]
        if self.tool is not None and not turns:
            content: list[dict[str, Any]] = [
                {"type": "tool_use", "id": "toolu_1", "name": self.tool, "input": {"key": "k"}}
            ]
            return ProviderResponse(
                message={"role": "assistant", "content": content, "stop_reason": "tool_use"}
            )
        return ProviderResponse(
            message={
                "role": "assistant",
                "content": [{"type": "text", "text": "done"}],
                "stop_reason": "end_turn",
            }
        )


def _job(index: int, pipeline: str) -> Job:
    return Job(
        id=f"job_{index:024x}",
        owner="o",
        dialect="anthropic",
        request={"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "go"}]},
        priority=1,
        status="running",
        attempts=1,
        created_at=0.0,
        next_attempt_at=0.0,
        group_id="evt_x",
        metadata={"event": {"id": f"e{index}", "type": "t"}, "pipeline": pipeline, "emit": "t.processed"},
    )


async def test_a_pipelines_concurrency_caps_its_runs_at_once() -> None:
    core = _Core()
    pipelines = Pipelines([Pipeline(on=("t",), model="m", prompt="p", concurrency=2, name="capped")])
    runner = PipelineRunner(core, pipelines)  # type: ignore[arg-type]
    runs = [
        asyncio.create_task(runner(_job(n, "capped"), Principal(None, None), {}, f"req_{n}"))
        for n in range(3)
    ]
    async with core.entered:
        await core.entered.wait_for(lambda: core.inside == 2)
    assert core.inside == 2 and not runs[2].done()  # the third waits for a slot, not upstream
    core.release.set()
    attempts = await asyncio.gather(*runs)
    assert core.peak == 2
    assert [attempt.result["output"] for attempt in attempts if attempt.result] == ["done"] * 3
    assert attempts[0].result is not None and attempts[0].result["event_id"] == "e0"


async def test_a_failing_tool_fails_the_attempt_as_retryable() -> None:
    core = _Core(tool="lookup_account")
    core.release.set()
    _event_tools.DOWN[0] = True
    pipelines = Pipelines(
        [Pipeline(on=("t",), model="m", prompt="p", tools=(_event_tools.lookup_account,), name="p")]
    )
    attempt = await PipelineRunner(core, pipelines)(_job(1, "p"), Principal(None, None), {}, "req_1")  # type: ignore[arg-type]
    assert attempt.error is not None and retryable(attempt.error)
    assert "lookup_account failed: the account backend is down" in attempt.error.message
    gone = await PipelineRunner(core, Pipelines())(_job(2, "p"), Principal(None, None), {}, "req_2")  # type: ignore[arg-type]
    assert gone.error is not None and not retryable(gone.error) and "not configured" in gone.error.message


def test_the_running_gauge_follows_a_runs_start_and_end() -> None:
    from dataclasses import replace

    from claudegate.gateway.events._metrics import EventMetrics

    metrics = EventMetrics()

    def running() -> list[tuple[dict[str, str], float]]:
        (gauge,) = [family for family in metrics.collect() if family.name == "claudegate_event_runs_running"]
        return [(sample.labels, sample.value) for sample in gauge.samples]

    job = replace(_job(1, "capped"), started_at=2.5)
    metrics.observe(job)
    assert running() == [({"pipeline": "capped", "priority": "medium"}, 1)]
    metrics.observe(replace(job, status="succeeded"))
    assert running() == []
