"""Health checks: real servers that are fast, slow and refusing, checked concurrently."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from claudegate.client import EndpointHealth, Failover, HealthChecker
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
