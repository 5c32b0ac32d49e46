"""Failover: the order each strategy tries endpoints in, health from results, and real switching."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from claudegate.client import AsyncClient, CircuitBreaker, Endpoint, EndpointHealth, Failover
from claudegate.errors import BadRequestError, CircuitOpenError, InternalServerError, OverloadedError
from claudegate.simulator import SimulatorApp, create_app
from claudegate.testing import LiveServer

KEY = "sk-ant-sim-test-000000"
ASK: dict[str, Any] = {
    "model": "claude-sonnet-5",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "Hi"}],
}
URLS = ["http://a.test", "http://b.test", "http://c.test"]


def names(endpoints: list[Endpoint]) -> list[str]:
    return [e.name.removeprefix("http://").removesuffix(".test") for e in endpoints]


async def run(failover: Failover, failing: set[str]) -> tuple[str, list[str]]:
    """One call where the named endpoints fail with a 529; returns the winner and the tries."""
    tried: list[str] = []

    async def operation(endpoint: Endpoint) -> str:
        name = names([endpoint])[0]
        tried.append(name)
        if name in failing:
            raise OverloadedError("busy", status_code=529)
        return name

    return await failover.call(operation), tried


async def test_priority_tries_in_order_each_once() -> None:
    failover = Failover(URLS, strategy="priority")
    assert await run(failover, {"a"}) == ("b", ["a", "b"])
    with pytest.raises(OverloadedError):
        await run(failover, {"a", "b", "c"})
    assert failover.health() == {
        "http://a.test": EndpointHealth.DEGRADED,
        "http://b.test": EndpointHealth.DEGRADED,
        "http://c.test": EndpointHealth.DEGRADED,
    }


async def test_round_robin_rotates() -> None:
    failover = Failover(URLS, strategy="round_robin")
    winners = [(await run(failover, set()))[0] for _ in range(4)]
    assert winners == ["a", "b", "c", "a"]


async def test_random_is_a_shuffle_per_call() -> None:
    failover = Failover(URLS, strategy="random", rng=random.Random(7))
    orders = {tuple(names(failover.order())) for _ in range(30)}
    assert len(orders) > 1 and all(sorted(o) == ["a", "b", "c"] for o in orders)


async def test_sticky_keeps_the_last_winner_until_it_fails() -> None:
    failover = Failover(URLS, strategy="sticky")
    assert await run(failover, {"a"}) == ("b", ["a", "b"])
    assert await run(failover, set()) == ("b", ["b"])
    assert await run(failover, {"b"}) == ("a", ["b", "a"])


async def test_unhealthy_endpoints_go_last_and_recover() -> None:
    failover = Failover(URLS, strategy="priority", unhealthy_after=2)
    for _ in range(2):
        await run(failover, {"a"})
    assert failover.endpoints[0].health is EndpointHealth.UNHEALTHY
    assert names(failover.order()) == ["b", "c", "a"]
    assert await run(failover, {"b", "c"}) == ("a", ["b", "c", "a"])
    assert failover.health()["http://a.test"] is EndpointHealth.HEALTHY


async def test_request_errors_are_not_failed_over() -> None:
    failover = Failover(URLS)
    tried: list[str] = []

    async def operation(endpoint: Endpoint) -> str:
        tried.append(endpoint.name)
        raise BadRequestError("bad", status_code=400)

    with pytest.raises(BadRequestError):
        await failover.call(operation)
    assert tried == ["http://a.test"]


async def test_an_open_breaker_skips_the_endpoint_without_calling_it() -> None:
    breaker = CircuitBreaker(failure_threshold=1, open_duration=60)
    breaker.record_failure()
    failover = Failover([Endpoint("http://a.test", breaker=breaker), "http://b.test"])
    assert await run(failover, set()) == ("b", ["b"])
    only_a = Failover([Endpoint("http://a.test", breaker=breaker)])
    with pytest.raises(CircuitOpenError):
        await run(only_a, set())


def test_bad_settings() -> None:
    with pytest.raises(Exception, match="at least one"):
        Failover([])
    with pytest.raises(Exception, match="unique"):
        Failover(["http://a.test", "http://a.test/"])


@pytest.fixture(scope="module")
def sims() -> Iterator[list[tuple[SimulatorApp, str]]]:
    apps = [create_app(), create_app()]
    with LiveServer(apps[0]) as first, LiveServer(apps[1]) as second:
        yield [(apps[0], first.base_url), (apps[1], second.base_url)]


async def test_fails_over_between_real_servers(sims: list[tuple[SimulatorApp, str]]) -> None:
    for app, _ in sims:
        app.simulator.log.clear()
    failover = Failover([url for _, url in sims])
    clients = {url: AsyncClient(api_key=KEY, base_url=url) for _, url in sims}
    first = failover.endpoints[0]

    async def create(endpoint: Endpoint, fault_on: set[Endpoint]) -> Any:
        headers = {"x-sim-fault": "500"} if endpoint in fault_on else {}
        return await clients[endpoint.base_url].messages.create(**ASK, extra_headers=headers)

    try:
        message = await failover.call(lambda e: create(e, {first}))
        assert message.role == "assistant"
        assert [len(app.simulator.log.entries()) for app, _ in sims] == [1, 1]
        assert [e.health for e in failover.endpoints] == [EndpointHealth.DEGRADED, EndpointHealth.HEALTHY]
        # both failing: the last error is raised after exactly one try on each
        with pytest.raises(InternalServerError):
            await failover.call(lambda e: create(e, set(failover.endpoints)))
        assert [len(app.simulator.log.entries()) for app, _ in sims] == [2, 2]
    finally:
        for client in clients.values():
            await client.aclose()
