"""Circuit breaker: transitions with a controlled clock, and against faults from the simulator."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from claudegate.client import AsyncClient, CircuitBreaker, CircuitState
from claudegate.errors import BadRequestError, CircuitOpenError, OverloadedError
from claudegate.simulator import SimulatorApp, create_app
from claudegate.testing import LiveServer

KEY = "sk-ant-sim-test-000000"
ASK: dict[str, Any] = {
    "model": "claude-sonnet-5",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "Hello there"}],
}


def state(breaker: CircuitBreaker) -> str:
    """Read the state through a call, so each read is a fresh value to the type checker."""
    return breaker.state.value


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_consecutive_failures_open_then_half_open_probe_closes() -> None:
    clock = FakeClock()
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        failure_threshold=3,
        open_duration=10.0,
        clock=clock,
        on_state_change=lambda _b, old, new: changes.append((old.value, new.value)),
    )
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    breaker.before_call()
    breaker.record_success()  # a success in between resets the consecutive count
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert state(breaker) == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert state(breaker) == "open"
    with pytest.raises(CircuitOpenError) as refused:
        breaker.before_call()
    assert refused.value.retry_after == pytest.approx(10.0)
    clock.now += 10.0
    assert state(breaker) == "half_open"
    breaker.before_call()
    with pytest.raises(CircuitOpenError):  # only one probe at a time
        breaker.before_call()
    breaker.record_success()
    assert state(breaker) == "closed"
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_failed_probe_reopens_and_several_probes_are_needed() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, open_duration=5.0, half_open_probes=2, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    clock.now += 5.0
    breaker.before_call()
    breaker.record_failure()
    assert state(breaker) == "open"
    clock.now += 5.0
    breaker.before_call()
    breaker.before_call()
    breaker.record_success()
    assert state(breaker) == "half_open"
    breaker.record_success()
    assert state(breaker) == "closed"


def test_window_counts_only_recent_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, window=10.0, clock=clock)
    for _ in range(2):
        breaker.record_failure()
        clock.now += 6.0
    breaker.record_success()  # successes do not reset a window
    breaker.record_failure()  # the first failure is now 12 s old
    assert state(breaker) == "closed"
    breaker.record_failure()
    assert state(breaker) == "open"


def test_retry_after_keeps_the_circuit_open_longer() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, open_duration=1.0, clock=clock)
    overloaded = OverloadedError("busy", status_code=529, headers={"retry-after": "20"})
    breaker.record_error(overloaded)
    clock.now += 19.0
    assert state(breaker) == "open" and breaker.retry_after == pytest.approx(1.0)
    clock.now += 1.0
    assert state(breaker) == "half_open"


def test_client_errors_do_not_count_as_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    breaker.record_error(BadRequestError("bad", status_code=400))
    assert state(breaker) == "closed"


def test_invalid_settings_are_refused() -> None:
    assert CircuitBreaker().state is CircuitState.CLOSED
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker(half_open_probes=0)


def test_threads_share_one_breaker_without_losing_counts() -> None:
    breaker = CircuitBreaker(failure_threshold=4000, window=3600.0)

    def fail_many() -> None:
        for _ in range(1000):
            breaker.record_failure()

    threads = [threading.Thread(target=fail_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state(breaker) == "open"


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[SimulatorApp, str]]:
    app = create_app()
    with LiveServer(app) as server:
        yield app, server.base_url


@pytest.fixture
async def client(sim: tuple[SimulatorApp, str]) -> AsyncIterator[AsyncClient]:
    sim[0].simulator.log.clear()
    sim[0].simulator.faults.reset()
    async with AsyncClient(api_key=KEY, base_url=sim[1]) as c:
        yield c


async def test_open_circuit_sends_nothing_until_the_probe(
    client: AsyncClient, sim: tuple[SimulatorApp, str]
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, open_duration=0.2)
    faulty = {**ASK, "extra_headers": {"x-sim-fault": "500;times=2"}}
    for _ in range(2):
        with pytest.raises(Exception, match="500"):
            await breaker.call(lambda: client.messages.create(**faulty))
    assert state(breaker) == "open"
    with pytest.raises(CircuitOpenError):
        await breaker.call(lambda: client.messages.create(**faulty))
    assert len(sim[0].simulator.log.entries()) == 2  # the refused call never left the process
    await asyncio.sleep(0.25)
    message = await breaker.call(lambda: client.messages.create(**faulty))
    assert message.role == "assistant"
    assert state(breaker) == "closed" and len(sim[0].simulator.log.entries()) == 3


async def test_529_retry_after_from_the_wire_holds_the_circuit_open(client: AsyncClient) -> None:
    breaker = CircuitBreaker(failure_threshold=1, open_duration=0.05)
    faulty = {**ASK, "extra_headers": {"x-sim-fault": "529;retry-after=3"}}
    with pytest.raises(OverloadedError):
        await breaker.call(lambda: client.messages.create(**faulty))
    await asyncio.sleep(0.1)
    assert state(breaker) == "open"
    retry_after = breaker.retry_after
    assert retry_after is not None and 2.5 < retry_after <= 3.0
