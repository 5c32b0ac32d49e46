"""Health checks: real servers that are fast, slow, refusing and flapping, checked concurrently by
model listing, HEAD or OPTIONS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from claudegate.client import EndpointHealth, Failover, HealthChecker, HealthStrategy
from claudegate.errors import UserError
from claudegate.gateway import create_app as gateway_app
from claudegate.simulator import SimulatorConfig, create_app
from claudegate.testing import LiveServer

KEY = "sk-ant-sim-test-000000"


class Slow:
    """An ASGI wrapper that answers the health-check route late."""

    def __init__(self, app: Any, delay: float) -> None:
        self.app = app
        self.delay = delay

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/models":
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    with (
        LiveServer(create_app()) as fast,
        LiveServer(Slow(create_app(), 0.4)) as slow,
        LiveServer(Slow(create_app(), 0.4)) as slow_too,
        LiveServer(create_app(SimulatorConfig(api_keys=["another-key"]))) as refusing,
    ):
        yield {
            "fast": fast.base_url,
            "slow": slow.base_url,
            "slow_too": slow_too.base_url,
            "refusing": refusing.base_url,
        }


async def test_summary_sorts_endpoints_by_latency_and_errors(urls: dict[str, str]) -> None:
    checker = HealthChecker(list(urls.values()), api_key=KEY, degraded_latency=0.2, timeout=3.0)
    started = time.monotonic()
    summary = await checker.check()
    elapsed = time.monotonic() - started
    by_url = {c.base_url: c for c in summary.checks}
    assert by_url[urls["fast"]].health is EndpointHealth.HEALTHY
    assert by_url[urls["slow"]].health is EndpointHealth.DEGRADED
    assert by_url[urls["slow_too"]].latency >= 0.4
    refused = by_url[urls["refusing"]]
    assert refused.health is EndpointHealth.UNHEALTHY and "AuthenticationError" in (refused.error or "")
    assert elapsed < 0.75  # the two slow checks overlapped
    assert summary.status is EndpointHealth.DEGRADED
    assert summary.to_dict()["counts"] == {"healthy": 1, "degraded": 2, "unhealthy": 1}


async def test_results_feed_the_failover_order(urls: dict[str, str]) -> None:
    failover = Failover([urls["refusing"], urls["fast"]])
    summary = await HealthChecker(failover, api_key=KEY).check()
    assert summary.count(EndpointHealth.UNHEALTHY) == 1
    assert [e.base_url for e in failover.order()] == [urls["fast"], urls["refusing"]]


async def test_nothing_answering_is_unhealthy_overall() -> None:
    checker = HealthChecker(["http://127.0.0.1:9"], api_key=KEY, timeout=1.0)
    summary = await checker.check()
    assert summary.status is EndpointHealth.UNHEALTHY
    assert summary.checks[0].error is not None and "Connection" in summary.checks[0].error


class Switch:
    """An ASGI wrapper whose probes (any HEAD or OPTIONS) answer 503 while ``down``; it records
    the headers each probe carried."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.down = False
        self.probe_headers: list[dict[bytes, bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("HEAD", "OPTIONS"):
            self.probe_headers.append(dict(scope["headers"]))
            if self.down:
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


class Ticks:
    """A clock that moves ``step`` seconds each time it is read: every check takes ``step``."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.parametrize("strategy", ["head", "options"])
async def test_ping_strategies_pass_on_the_simulator_and_the_gateway_without_a_key(
    strategy: HealthStrategy,
) -> None:
    with LiveServer(gateway_app()) as gateway, LiveServer(create_app(SimulatorConfig(api_keys=[KEY]))) as sim:
        checker = HealthChecker([gateway.base_url, sim.base_url], strategy=strategy)
        summary = await checker.check()
    assert summary.status is EndpointHealth.HEALTHY
    assert [(c.status_code, c.error) for c in summary.checks] == [(200, None), (200, None)]


async def test_a_ping_fails_on_5xx_or_no_answer_but_not_on_a_live_servers_401() -> None:
    switch = Switch(create_app(SimulatorConfig(api_keys=["another-key"])))
    with LiveServer(switch) as server:
        behind_key = HealthChecker([server.base_url], strategy="head", path="/v1/models")
        assert (await behind_key.check()).checks[0].status_code == 401
        assert (await behind_key.check()).status is EndpointHealth.HEALTHY  # up, just wants a key
        switch.down = True
        down = (await HealthChecker([server.base_url], strategy="options").check()).checks[0]
    assert down.health is EndpointHealth.UNHEALTHY and down.error == "OPTIONS / answered 503"
    assert all(b"x-api-key" not in h and b"authorization" not in h for h in switch.probe_headers)
    gone = (await HealthChecker(["http://127.0.0.1:9"], strategy="head", timeout=1.0).check()).checks[0]
    assert gone.health is EndpointHealth.UNHEALTHY and gone.status_code is None
    assert gone.error is not None and "Connection" in gone.error


async def test_thresholds_need_failures_in_a_row_to_turn_unhealthy_and_successes_to_come_back() -> None:
    switch = Switch(create_app())
    with LiveServer(switch) as server:
        failover = Failover([server.base_url, "http://127.0.0.1:9"])
        checker = HealthChecker(failover, strategy="head", healthy_after=2, unhealthy_after=3, timeout=1.0)
        endpoint = failover.endpoints[0]
        seen = []
        for down in (False, False, True, True, True, False, False):
            switch.down = down
            check = await checker.check_one(endpoint)
            seen.append((check.health.value, check.successes, check.failures))
        assert seen == [
            ("degraded", 1, 0),  # one good ping is not yet enough
            ("healthy", 2, 0),
            ("degraded", 0, 1),  # one blip: not out of the rotation
            ("degraded", 0, 2),
            ("unhealthy", 0, 3),
            ("unhealthy", 1, 0),  # stays out until it has proved itself twice
            ("healthy", 2, 0),
        ]
        switch.down = True
        for _ in range(3):
            await checker.check_one(endpoint)
        assert [e.base_url for e in failover.order()][-1] == server.base_url


async def test_a_slow_ping_is_degraded_by_the_injected_clock() -> None:
    with LiveServer(create_app()) as server:
        slow = HealthChecker([server.base_url], strategy="options", degraded_latency=1.0, clock=Ticks(2.5))
        check = (await slow.check()).checks[0]
    assert check.health is EndpointHealth.DEGRADED and check.latency == 2.5 and check.error is None


def test_strategies_are_checked_when_built() -> None:
    with pytest.raises(UserError, match="needs api_key") as no_key:
        HealthChecker(["http://127.0.0.1:9"])
    assert no_key.value.field == "api_key"
    with pytest.raises(UserError) as bad_path:
        HealthChecker(["http://127.0.0.1:9"], strategy="head", path="health")
    assert bad_path.value.field == "path"
    with pytest.raises(UserError) as bad_strategy:
        HealthChecker(["http://127.0.0.1:9"], strategy="ping")  # type: ignore[arg-type]
    assert bad_strategy.value.field == "strategy"
    with pytest.raises(UserError) as bad_threshold:
        HealthChecker(["http://127.0.0.1:9"], strategy="head", unhealthy_after=0)
    assert bad_threshold.value.field == "healthy_after"
    with pytest.raises(UserError) as wrong_key:  # the models check sends the key: its format counts
        HealthChecker(["https://api.anthropic.com"], api_key="cg-gateway-key")
    assert "cg-gateway-key" not in str(wrong_key.value)
