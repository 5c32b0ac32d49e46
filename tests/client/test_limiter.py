"""Client-side rate limiter: bucket arithmetic with a controlled clock, and real pacing on a socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from claudegate.client import AsyncClient, RateLimiter, estimate_input_tokens
from claudegate.errors import QuotaExceededError
from claudegate.simulator import SimulatorApp, create_app
from claudegate.testing import LiveServer

KEY = "sk-ant-sim-test-000000"
ASK: dict[str, Any] = {
    "model": "claude-sonnet-5",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "Hi"}],
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_burst_is_free_then_each_request_waits_its_share() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_second=10, burst=3, clock=clock)
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.reserve() == pytest.approx(0.1)
    assert limiter.reserve() == pytest.approx(0.2)  # queued behind the previous waiter
    clock.now += 1.0
    assert limiter.available()["requests"] == pytest.approx(3.0)  # refilled, capped at the burst


def test_fail_fast_takes_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_second=1, burst=1, max_wait=0, clock=clock)
    limiter.reserve()
    with pytest.raises(QuotaExceededError) as refused:
        limiter.reserve()
    assert refused.value.quota == "rate_limiter.requests_per_second"
    clock.now += 1.0
    assert limiter.reserve() == 0.0  # the refusal did not consume the refilled slot


def test_token_bucket_paces_by_estimated_input_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=600, clock=clock, max_wait=5.0)  # 10 tokens per second
    assert limiter.reserve(tokens=590) == 0.0
    assert limiter.reserve(tokens=30) == pytest.approx(2.0)
    with pytest.raises(QuotaExceededError) as refused:
        limiter.reserve(tokens=100)  # would wait 12 s
    assert refused.value.quota == "rate_limiter.tokens_per_minute"
    with pytest.raises(QuotaExceededError):
        limiter.reserve(tokens=601)  # more than the bucket can ever hold


def test_estimate_and_settings() -> None:
    assert estimate_input_tokens(None) == 0
    assert estimate_input_tokens(b"x" * 400) == 100
    with pytest.raises(ValueError):
        RateLimiter()
    with pytest.raises(ValueError):
        RateLimiter(requests_per_second=0)


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[SimulatorApp, str]]:
    app = create_app()
    with LiveServer(app) as server:
        yield app, server.base_url


async def test_requests_reach_the_server_at_the_configured_pace(sim: tuple[SimulatorApp, str]) -> None:
    """2 go at once, then one every 50 ms: no request reaches the server before its slot. Only lower
    bounds are checked (a busy machine delays requests; it never sends one early)."""
    app, base_url = sim
    app.simulator.log.clear()
    limiter = RateLimiter(requests_per_second=20, burst=2, clock=lambda: 0.0)  # all ask at one instant
    waits: list[float] = []
    async with AsyncClient(api_key=KEY, base_url=base_url) as client:

        async def one() -> None:
            waits.append(await limiter.acquire())
            await client.messages.create(**ASK)

        started = time.time()  # the simulator's log stamps arrivals with the wall clock
        await asyncio.gather(*(one() for _ in range(8)))
    assert sorted(waits) == pytest.approx([0.0, 0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30])
    arrivals = sorted(e["time"] for e in app.simulator.log.entries())
    assert len(arrivals) == 8
    for arrival, wait in zip(arrivals, sorted(waits), strict=True):
        assert arrival - started >= wait - 0.002  # the k-th arrival is no earlier than the k-th slot
