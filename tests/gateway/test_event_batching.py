"""Batched pipelines (``batch: {size, wait}``): low-priority runs go in groups of at most ``size``,
sent when ``size`` wait or the oldest has waited ``wait`` (a fake clock, no sleeps); each run
still ends on its own (a failure fails only it, a retry joins a later group); a group whose
worker lost its leases is run again by another without a second result; a route that sends
batches upstream gets one upstream Message Batch per group, charged at the batch price."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from claudegate.gateway import GatewayApp, parse_config
from claudegate.gateway.batches import BATCH_DISCOUNT
from claudegate.gateway.core import Principal, usage_cost
from claudegate.gateway.events import Event
from claudegate.gateway.jobs import Attempt
from claudegate.simulator import SimulatorConfig
from claudegate.simulator import create_app as create_simulator
from claudegate.store import Database
from claudegate.testing import LiveServer
from tests.gateway import _event_tools, _ledger
from tests.gateway.conftest import simulator_route
from tests.gateway.test_jobs_crash import postgres  # noqa: F401  (the fixture)

ANYONE = Principal()
OWNER = ANYONE.owner


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def base_config(tmp_path: Path, **pipeline: Any) -> dict[str, Any]:
    return {
        "models": [simulator_route()],
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "jobs": {"enabled": True, "workers": 2, "per_key": 1, "backoff": 0.01, "max_attempts": 2},
        "events": {
            "tool_modules": ["tests.gateway._event_tools"],
            "pipelines": [
                {
                    "name": "digest",
                    "on": "click.*",
                    "model": "claude-haiku-4-5",
                    "prompt": "Summarise {{ id }}",
                    "priority": "low",
                    "max_tokens": 30,
                    "batch": {"size": 4, "wait": "60s"},
                    **pipeline,
                }
            ],
        },
    }


@asynccontextmanager
async def running(
    config: dict[str, Any], clock: Callable[[], float] = time.time
) -> AsyncIterator[GatewayApp]:
    app = GatewayApp(parse_config(config), clock=clock)
    await app.startup()
    try:
        yield app
    finally:
        await app.shutdown()


class Joins:
    """Counts the runs that join a group (wraps the batcher's ``join``) and wakes a waiter at a count."""

    def __init__(self, app: GatewayApp) -> None:
        self.count = 0
        self.changed = asyncio.Condition()
        batcher = app.events.batcher
        join = batcher.join

        async def counted(*args: Any) -> Attempt:
            self.count += 1
            async with self.changed:
                self.changed.notify_all()
            return await join(*args)

        batcher.join = counted  # type: ignore[method-assign,assignment]

    async def reach(self, count: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: self.count >= count), 30)


async def publish(app: GatewayApp, ids: Sequence[str], **headers: str) -> None:
    events = [Event("click.made", event_id, {"n": event_id}) for event_id in ids]
    await app.events.publish(ANYONE, events, headers=headers or None)


async def settled(app: GatewayApp, event_id: str) -> dict[str, Any]:
    view = await app.events.get(OWNER, event_id, wait=30)
    assert view is not None
    return view


def metric_lines(app: GatewayApp) -> set[str]:
    return set(app.core.metrics.render().decode().splitlines())


async def test_low_events_go_in_groups_of_size_then_by_wait_and_others_one_by_one(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running(base_config(tmp_path)) as app:
        app.events.batcher.clock = clock
        joins = Joins(app)
        ids = [f"c-{n}" for n in range(10)]
        await publish(app, ids)
        await joins.reach(10)  # past jobs.workers (2) and jobs.per_key (1): waiting runs are parked
        assert app.events.batcher.waiting() == {"digest": 2}  # two groups of 4 sent as they filled
        clock.now += 59.9
        app.events.batcher.flush_due()
        assert app.events.batcher.waiting() == {"digest": 2}  # the oldest has not waited 60 s yet
        waiting = [await app.events.get(OWNER, event_id) for event_id in ids]
        clock.now += 0.1
        app.events.batcher.flush_due()
        events = [await settled(app, event_id) for event_id in ids]
        high = Event("click.made", "c-high", {"n": "h"}, priority="high")
        await app.events.publish(ANYONE, [high])
        alone = await settled(app, "c-high")
        lines = metric_lines(app)
    assert sum(view is not None and view["status"] == "running" for view in waiting) >= 2
    assert {event["status"] for event in events} == {"processed"}
    groups = Counter(event["result"]["batch"]["id"] for event in events)
    assert sorted(groups.values()) == [2, 4, 4]
    assert {event["result"]["batch"]["size"] for event in events} == {2, 4}
    assert {event["result"]["batch"]["mode"] for event in events} == {"direct"}
    assert all(event["result"]["output"] and event["runs"][0]["attempts"] == 1 for event in events)
    assert alone["status"] == "processed" and "batch" not in alone["result"]  # high: one by one
    assert 'claudegate_event_batches_total{mode="direct",pipeline="digest"} 3.0' in lines
    assert 'claudegate_event_batch_size_count{pipeline="digest"} 3.0' in lines
    assert 'claudegate_event_batch_size_sum{pipeline="digest"} 10.0' in lines
    assert 'claudegate_event_batch_size_bucket{le="2.0",pipeline="digest"} 1.0' in lines


async def test_groups_fill_past_the_workers_on_postgresql_with_pgqueuer(
    tmp_path: Path,
    postgres: tuple[dict[str, Any], Database],  # noqa: F811  (the fixture imported above)
) -> None:
    config = base_config(tmp_path, batch={"size": 3, "wait": 3600})
    config["storage"] = postgres[0]
    config["jobs"].update(backend="pgqueuer", workers=1)
    async with running(config) as app:
        ids = [f"p-{n}" for n in range(6)]
        await publish(app, ids)
        events = [await settled(app, event_id) for event_id in ids]
    assert {event["status"] for event in events} == {"processed"}
    assert sorted(Counter(event["result"]["batch"]["id"] for event in events).values()) == [3, 3]


async def test_one_runs_failure_fails_only_it_and_its_retry_joins_a_later_group(tmp_path: Path) -> None:
    clock = FakeClock()
    config = base_config(tmp_path, batch={"size": 3, "wait": 30})
    async with running(config) as app:
        app.events.batcher.clock = clock
        joins = Joins(app)
        await publish(app, ["bad"], **{"x-sim-fault": "400"})
        await publish(app, ["flaky"], **{"x-sim-fault": "529;times=1"})
        await publish(app, ["fine"])
        bad, fine = await settled(app, "bad"), await settled(app, "fine")
        await joins.reach(4)  # the flaky run's retry waits for a group of its own
        clock.now += 30
        app.events.batcher.flush_due()
        flaky = await settled(app, "flaky")
    assert bad["status"] == "dead" and bad["runs"][0]["attempts"] == 1
    assert bad["runs"][0]["error"]["type"] == "invalid_request_error"
    assert fine["status"] == "processed" and fine["result"]["batch"]["size"] == 3
    assert flaky["status"] == "processed" and flaky["runs"][0]["attempts"] == 2
    assert flaky["result"]["batch"]["size"] == 1
    assert flaky["result"]["batch"]["id"] != fine["result"]["batch"]["id"]


async def test_a_group_whose_worker_lost_its_leases_runs_again_elsewhere_and_ends_once(
    tmp_path: Path,
) -> None:
    config = base_config(tmp_path, batch={"size": 2, "wait": 3600})
    config["jobs"].update(lease=5.0, heartbeat=3600.0)  # no renewal while the test runs
    gate = asyncio.Event()
    async with running(config) as first:
        create = first.core.create
        inside = asyncio.Semaphore(0)

        async def held(call: Any) -> Any:
            inside.release()
            await gate.wait()
            return await create(call)

        first.core.create = held  # type: ignore[method-assign]
        lost: list[bool] = []
        tried = asyncio.Event()
        store = (await first.jobs.engine()).store
        transition_many = store.transition_many

        async def ends(*args: Any, **kwargs: Any) -> list[bool]:
            made = await transition_many(*args, **kwargs)
            lost.extend(not item for item in made)
            if len(lost) >= 2:
                tried.set()
            return made

        store.transition_many = ends  # type: ignore[method-assign]
        await publish(first, ["a", "b"])
        for _ in range(2):
            await asyncio.wait_for(inside.acquire(), 30)  # the group's calls are under way
        # A second gateway on the same store, its clock past the first's leases (as after a crash).
        async with running(config, clock=lambda: time.time() + 10) as second:
            views = [await settled(second, "a"), await settled(second, "b")]
            gate.set()  # the first worker's calls answer now: its ends must not be written
            await asyncio.wait_for(tried.wait(), 30)
            again = [await settled(second, "a"), await settled(second, "b")]
        first_lines = metric_lines(first)
    assert lost == [True, True]
    for view, later in zip(views, again, strict=True):
        assert view["status"] == "processed" and len(view["runs"]) == 1 and view["runs"][0]["attempts"] == 2
        assert later["results"] == view["results"] and len(later["results"]) == 1
    assert not any(line.startswith('claudegate_event_runs_total{outcome="processed"') for line in first_lines)


@pytest.fixture
def upstream_batches(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, Any]]]:
    """An HTTP simulator serving Message Batches (ended as soon as looked at), and a route to it
    that sends batches upstream."""
    monkeypatch.setenv("CG_TEST_UPSTREAM_KEY", "sk-ant-upstream-events-0123")
    simulator = create_simulator(SimulatorConfig(batch_delay=0.0, api_keys=("sk-ant-upstream-events-0123",)))
    with LiveServer(simulator) as upstream:
        deployment = {
            "provider": "anthropic",
            "name": "anthropic-main",
            "base_url": upstream.base_url,
            "api_key": "env:CG_TEST_UPSTREAM_KEY",
        }
        yield simulator, {"name": "*", "deployments": [deployment], "batches": {"upstream": True}}


def upstream_held(simulator: Any) -> list[dict[str, Any]]:
    held: list[dict[str, Any]] = simulator.simulator.batches.list(
        after_id=None, before_id=None, limit=10, base_url=""
    )["data"]
    return held


async def test_a_route_with_upstream_batches_sends_each_group_as_one_batch_at_the_batch_price(
    tmp_path: Path, upstream_batches: tuple[Any, dict[str, Any]]
) -> None:
    simulator, route = upstream_batches
    config = base_config(
        tmp_path,
        prompt="Use check_policy_violations on: {{ id }}",
        tools=["check_policy_violations"],
        max_tokens=200,
        batch={"size": 3, "wait": 60},
    )
    config["models"] = [route]
    _event_tools.CALLS.clear()
    async with running(config) as app:
        app.events.batcher.upstream.poll = 0.0
        await publish(app, ["u-1", "u-2", "u-3"])
        events = [await settled(app, event_id) for event_id in ("u-1", "u-2", "u-3")]
        lines = metric_lines(app)
    assert {event["status"] for event in events} == {"processed"}
    (upstream_batch,) = upstream_held(simulator)  # one upstream batch for the group
    grouped = [event["result"]["batch"] for event in events]
    assert {item["upstream"]["id"] for item in grouped} == {upstream_batch["id"]}
    assert {item["mode"] for item in grouped} == {"upstream"} and {item["size"] for item in grouped} == {3}
    assert len(_event_tools.CALLS) == 3  # the first turns asked for the tool: each run went on
    assert all(event["result"]["usage"]["requests"] == 2 for event in events)
    assert 'claudegate_event_batches_total{mode="upstream",pipeline="digest"} 1.0' in lines
    rows = _ledger.rows(tmp_path / "g.db")
    firsts = [row for row in rows if row["request_id"].endswith("_1")]
    seconds = [row for row in rows if row["request_id"].endswith("_2")]
    assert len(firsts) == len(seconds) == 3
    for row in firsts:  # the batched turn: the batch price
        usage = {"input_tokens": row["input_tokens"], "output_tokens": row["output_tokens"]}
        assert row["deployment"] == "anthropic-main" and row["status"] == 200
        assert row["cost"] == pytest.approx(usage_cost(row["model"], usage) * BATCH_DISCOUNT)
    for row in seconds:  # the tool round after it: a call of its own, the listed price
        usage = {"input_tokens": row["input_tokens"], "output_tokens": row["output_tokens"]}
        assert row["cost"] == pytest.approx(usage_cost(row["model"], usage))
    for event in events:
        assert event["result"]["cost"] == pytest.approx(
            sum(
                row["cost"]
                for row in rows
                if row["request_id"].startswith(f"req_{event['runs'][0]['run_id'][4:]}")
            )
        )


async def test_a_request_the_upstream_batch_refuses_fails_only_its_run(
    tmp_path: Path, upstream_batches: tuple[Any, dict[str, Any]]
) -> None:
    simulator, route = upstream_batches
    config = base_config(tmp_path, prompt="{{ payload.text }}", batch={"size": 3, "wait": 60})
    config["models"] = [route]
    async with running(config) as app:
        app.events.batcher.upstream.poll = 0.0
        texts = {"ok-1": "hello there", "empty": "", "ok-2": "name a colour"}
        events = [Event("click.made", event_id, {"text": text}) for event_id, text in texts.items()]
        await app.events.publish(ANYONE, events)
        views = {event_id: await settled(app, event_id) for event_id in texts}
    (upstream_batch,) = upstream_held(simulator)
    assert upstream_batch["request_counts"] == {
        "processing": 0,
        "succeeded": 2,
        "errored": 1,
        "canceled": 0,
        "expired": 0,
    }
    empty = views["empty"]
    assert empty["status"] == "dead" and empty["runs"][0]["attempts"] == 1  # a client error: not retried
    assert empty["runs"][0]["error"]["type"] == "invalid_request_error"
    assert "non-empty content" in empty["runs"][0]["error"]["message"]
    for event_id in ("ok-1", "ok-2"):
        assert views[event_id]["status"] == "processed"
        assert views[event_id]["result"]["batch"]["upstream"]["id"] == upstream_batch["id"]
    rows = _ledger.rows(tmp_path / "g.db")
    assert sorted((row["status"], row["cost"] > 0) for row in rows) == [
        (200, True),
        (200, True),
        (400, False),
    ]
