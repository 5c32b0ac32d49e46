"""10,000 events of mixed priorities through ``POST /v1/events`` and the simulator upstream, on the
embedded job backend (and 2,000 on PgQueuer with the real PostgreSQL): each processed exactly once
in the record; with a backlog, high-priority events wait less (p99) than low ones do (p50); with
high-priority events arriving all along, each low one starts within the documented bound (the n-th
waiting low within 7·n claims) and they all finish while the high ones still arrive.

The order is the fair picker's, not the machine's: the gateway's workers are held while a backlog
is accepted (so that every claim chooses among all of it), and in the second part high events are
posted as the ones before them start, so some always wait. Queue waits and starts are the record's
timestamps (``created_at``, ``started_at``: the engine's clock; one claim round shares one time).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from claudegate.gateway.jobs import Job
from claudegate.store import Database
from tests.gateway import _event_tools, _wire
from tests.gateway.conftest import Live, serve, simulator_route
from tests.gateway.test_jobs_crash import postgres  # noqa: F401  (the fixture)

WORKERS = 4
LIST = 100
"""High events posted at a time while low ones wait."""


@dataclass(frozen=True)
class Scale:
    backlog: int
    """Events of each priority accepted while the workers are held."""
    low: int
    """Low events waiting while high ones arrive ..."""
    high: int
    """... ``LIST`` at a time, as the ones before them start."""

    @property
    def total(self) -> int:
        return 3 * self.backlog + self.low + self.high


FULL = Scale(backlog=2000, low=400, high=3600)
SMALL = Scale(backlog=400, low=80, high=720)


class Tally:
    """Runs started and ended, by pipeline, as the job engine's observer sees them."""

    def __init__(self) -> None:
        self.started: Counter[str] = Counter()
        self.ended: Counter[str] = Counter()
        self.changed = threading.Condition()

    def __call__(self, job: Job) -> None:
        pipeline = str((job.metadata or {}).get("pipeline"))
        with self.changed:
            if job.status == "running" and job.attempts == 1:
                self.started[pipeline] += 1
            elif job.done:
                self.ended[pipeline] += 1
            self.changed.notify_all()

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        with self.changed:
            assert self.changed.wait_for(condition, timeout=120), what


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    _event_tools.GATE.clear()
    yield _event_tools.GATE
    _event_tools.GATE.set()


def _config(storage: dict[str, Any]) -> dict[str, Any]:
    model = "claude-haiku-4-5"

    def pipeline(name: str, on: str, priority: str, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "on": on, "model": model, "prompt": "{{ id }}", "max_tokens": 16}
        return {**body, "priority": priority, **extra}

    return {
        "models": [simulator_route()],
        "storage": storage,
        "jobs": {"enabled": True, "workers": WORKERS, "per_key": None},
        "events": {
            "tool_modules": ["tests.gateway._event_tools"],
            "pipelines": [
                pipeline("gate", "gate", "high", prompt="Use hold", tools=["hold"], concurrency=WORKERS),
                pipeline("high", "alert.*", "high"),
                pipeline("medium", "order.*", "medium"),
                pipeline("low", "click.*", "low"),
            ],
        },
    }


def _events(kind: str, prefix: str, count: int) -> list[dict[str, Any]]:
    kind_type = {"high": "alert.raised", "medium": "order.placed", "low": "click.made"}[kind]
    return [{"type": kind_type, "id": f"{prefix}-{kind}-{n}"} for n in range(count)]


def _post(live: Live, events: list[dict[str, Any]]) -> None:
    for first in range(0, len(events), 1000):
        reply = _wire.call(live.base_url, "POST", "/v1/events", {"events": events[first : first + 1000]})
        assert reply.status == 202, reply.body


def _hold_the_workers(live: Live, tally: Tally, round_: int) -> None:
    _post(live, [{"type": "gate", "id": f"gate-{round_}-{n}"} for n in range(WORKERS)])
    tally.wait(lambda: tally.started["gate"] == WORKERS * round_, "the gate runs did not start")


def _high_started(tally: Tally, count: int) -> Callable[[], bool]:
    return lambda: tally.started["high"] >= count


async def _runs(storage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each run in the record by its event id: status, times, result, ledger rows."""
    database = await Database.connect(
        storage["database_url"], table_prefix=storage.get("table_prefix", "cg_")
    )
    try:
        jobs, usage = database.tables.jobs, database.tables.usage
        columns = (jobs.c.id, jobs.c.status, jobs.c.created_at, jobs.c.started_at, jobs.c.job_metadata)
        async with database.engine.connect() as connection:
            rows = (await connection.execute(select(*columns, jobs.c.result))).all()
            requests = (await connection.execute(select(usage.c.request_id))).scalars().all()
    finally:
        await database.close()
    ledger = Counter(request_id.split("_")[1] for request_id in requests)
    runs: dict[str, dict[str, Any]] = {}
    for job_id, status, created, started, metadata, result in rows:
        event_id = metadata["event"]["id"]
        assert event_id not in runs, f"{event_id} ran twice"
        runs[event_id] = {
            "status": status,
            "created": created,
            "started": started,
            "result": result,
            "ledger": ledger[job_id[4:]],
        }
    return runs


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _drive(storage: dict[str, Any], scale: Scale, gate: threading.Event) -> list[dict[str, Any]]:
    """Both parts through a gateway on ``storage``; the last list of high events posted."""
    tally = Tally()
    with serve(_config(storage)) as live:
        engine = live.app.jobs.engine_if_open
        assert engine is not None
        engine.observers.append(tally)

        # A backlog, accepted while the workers are held: low ones first, high ones last.
        _hold_the_workers(live, tally, 1)
        for kind in ("low", "medium", "high"):
            _post(live, _events(kind, "b", scale.backlog))
        gate.set()
        tally.wait(lambda: sum(tally.ended.values()) == 3 * scale.backlog + WORKERS, "the backlog")

        # Low ones waiting, high ones arriving as the ones before them start.
        gate.clear()
        _hold_the_workers(live, tally, 2)
        _post(live, _events("low", "a", scale.low))
        highs = _events("high", "a", scale.high)
        lists = [highs[first : first + LIST] for first in range(0, scale.high, LIST)]
        before = tally.started["high"]
        _post(live, lists[0])
        gate.set()
        for number, items in enumerate(lists[1:], 1):
            tally.wait(_high_started(tally, before + number * LIST - LIST // 2), "earlier high events")
            _post(live, items)
        tally.wait(lambda: sum(tally.ended.values()) == scale.total + 2 * WORKERS, "every event")
    return lists[-1]


async def test_ten_thousand_events_each_once_high_first_low_never_starved(
    tmp_path: Path, gate: threading.Event
) -> None:
    storage = {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"}
    await check(storage, FULL, gate)


async def test_pgqueuer_picks_in_the_same_fair_order(
    postgres: tuple[dict[str, Any], Database],  # noqa: F811  (the fixture imported above)
    gate: threading.Event,
) -> None:
    await check({**postgres[0]}, SMALL, gate)


async def check(storage: dict[str, Any], scale: Scale, gate: threading.Event) -> None:
    last_list = await asyncio.to_thread(_drive, storage, scale, gate)
    runs = await _runs(storage)
    events = {event_id: run for event_id, run in runs.items() if not event_id.startswith("gate-")}

    # Each event processed exactly once: one run, one result naming it, one ledger row.
    assert len(events) == scale.total
    assert {run["status"] for run in events.values()} == {"succeeded"}
    assert all(run["result"]["event_id"] == event_id for event_id, run in events.items())
    assert {run["ledger"] for run in events.values()} == {1}

    # The backlog: high first; high events' p99 queue wait below low events' p50.
    backlog = {event_id: run for event_id, run in events.items() if event_id.startswith("b-")}
    first = min(run["started"] for run in backlog.values())
    first_round = [event_id for event_id, run in backlog.items() if run["started"] == first]
    assert any(event_id.startswith("b-high-") for event_id in first_round), first_round

    def waits(kind: str) -> list[float]:
        return [
            run["started"] - run["created"] for key, run in backlog.items() if key.startswith(f"b-{kind}-")
        ]

    high_p99, low_p50 = _quantile(waits("high"), 0.99), _quantile(waits("low"), 0.5)
    assert high_p99 < low_p50, (high_p99, low_p50)
    assert _quantile(waits("high"), 0.99) < _quantile(waits("medium"), 0.5)

    # High ones arriving: the n-th low started within 7·n claims (plus the rest of its claim round),
    # and every low one before the last list of high ones was even accepted.
    arriving = sorted(
        (run["started"], event_id) for event_id, run in events.items() if event_id.startswith("a-")
    )
    starts = [started for started, _ in arriving]
    lows = [started for started, event_id in arriving if event_id.startswith("a-low-")]
    for number, started in enumerate(lows, 1):
        position = sum(1 for other in starts if other <= started)
        assert position <= 7 * number + WORKERS - 1, (number, position)
    last_accepted = min(events[item["id"]]["created"] for item in last_list)
    assert max(lows) < last_accepted
