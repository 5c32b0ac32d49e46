"""Retries, failover strategies, circuit breakers and /health/deployments, over real sockets.

Two ``anthropic`` deployments point at two simulators on loopback; attempts are counted from each
simulator's request log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from claudegate.simulator import SimulatorApp, SimulatorConfig
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway.conftest import Live, serve

ASK = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}
KEY_ENV = "GW_RESILIENCE_KEY"


@contextmanager
def two_upstreams(
    route: dict[str, Any], first: SimulatorConfig | None = None
) -> Iterator[tuple[Live, SimulatorApp, SimulatorApp]]:
    """A gateway whose route has deployments ``one`` (priority 1) and ``two`` (priority 2)."""
    with ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv(KEY_ENV, "sk-ant-api03-resilience-test-key-000")
        apps = [create_simulator(first), create_simulator()]
        urls = [stack.enter_context(LiveServer(app)).base_url for app in apps]
        deployments = [
            {
                "provider": "anthropic",
                "name": name,
                "base_url": url,
                "api_key": f"env:{KEY_ENV}",
                "priority": p,
            }
            for name, url, p in zip(("one", "two"), urls, (1, 2), strict=True)
        ]
        live = stack.enter_context(
            serve({"models": [{"name": "claude-sonnet-5", "deployments": deployments, **route}]})
        )
        yield live, apps[0], apps[1]


def calls(app: SimulatorApp) -> int:
    return sum(1 for entry in app.simulator.log.entries() if entry["path"] == "/v1/messages")


def health(live: Live) -> dict[str, dict[str, Any]]:
    reply = _wire.call(live.base_url, "GET", "/health/deployments")
    assert reply.status == 200
    return {item["name"]: item for item in reply.json()["deployments"]}


def test_round_robin_spreads_requests_over_both_deployments() -> None:
    with two_upstreams({"strategy": "round_robin"}) as (live, one, two):
        for _ in range(6):
            assert _wire.messages(live.base_url, ASK).status == 200
        assert (calls(one), calls(two)) == (3, 3)


def test_priority_sends_everything_to_the_first_deployment() -> None:
    with two_upstreams({}) as (live, one, two):
        for _ in range(4):
            assert _wire.messages(live.base_url, ASK).status == 200
        assert (calls(one), calls(two)) == (4, 0)


def test_sticky_keeps_each_session_on_one_deployment() -> None:
    with two_upstreams({"strategy": "sticky"}) as (live, one, _two):
        homes: dict[str, int] = {}
        for session in [f"session-{i}" for i in range(8)]:
            for _ in range(3):
                before = calls(one)
                assert _wire.messages(live.base_url, ASK, {"x-session-id": session}).status == 200
                home = 1 if calls(one) > before else 2
                assert homes.setdefault(session, home) == home
        assert set(homes.values()) == {1, 2}  # sessions are spread, each kept on its deployment


def test_a_route_retry_makes_another_pass_after_every_deployment_failed() -> None:
    retry = {"retry": {"max_retries": 1, "initial_delay": 0.01, "max_delay": 0.05}}
    with two_upstreams(retry) as (live, one, two):
        reply = _wire.messages(live.base_url, ASK, {"x-sim-fault": "500;times=1"})
        assert reply.status == 200
        assert (calls(one), calls(two)) == (2, 1)  # one failed, two failed, one again


def test_without_retry_a_failure_everywhere_is_answered_after_one_call_each() -> None:
    with two_upstreams({}) as (live, one, two):
        reply = _wire.messages(live.base_url, ASK, {"x-sim-fault": "500;times=1"})
        assert reply.status == 500
        assert (calls(one), calls(two)) == (1, 1)


def test_the_breaker_opens_skips_the_deployment_then_recovers() -> None:
    breaker = {"breaker": {"failure_threshold": 2, "open_duration": 0.5}}
    with two_upstreams(breaker, SimulatorConfig(fault="500;times=2")) as (live, one, two):
        for _ in range(4):
            assert _wire.messages(live.base_url, ASK).status == 200
        assert (calls(one), calls(two)) == (2, 4)  # opened after two failures: no further call
        state = health(live)["one"]
        assert state["state"] == "unhealthy"
        assert state["breaker"]["state"] == "open"
        assert state["last_error"] == "500 api_error"
        assert health(live)["two"]["state"] == "healthy"
        time.sleep(0.6)
        assert _wire.messages(live.base_url, ASK).status == 200
        assert (calls(one), calls(two)) == (3, 4)  # the probe went to one and succeeded
        assert health(live)["one"]["breaker"]["state"] == "closed"


def test_every_circuit_open_is_a_503_with_retry_after() -> None:
    breaker = {"breaker": {"failure_threshold": 1, "open_duration": 30}}
    with two_upstreams(breaker) as (live, one, two):
        assert _wire.messages(live.base_url, ASK, {"x-sim-fault": "529"}).status == 529
        reply = _wire.messages(live.base_url, ASK)
        assert reply.status == 503
        assert reply.json()["error"]["type"] == "overloaded_error"
        assert int(reply.headers["retry-after"]) >= 29
        assert (calls(one), calls(two)) == (1, 1)


def test_health_reports_unknown_before_traffic_and_latency_after() -> None:
    with two_upstreams({}) as (live, _one, _two):
        before = health(live)
        assert {item["state"] for item in before.values()} == {"unknown"}
        assert _wire.messages(live.base_url, ASK).status == 200
        after = health(live)["one"]
        assert after["state"] == "healthy"
        assert after["latency"]["last_ms"] > 0
        assert after["breaker"] is None


def test_an_upstream_answering_423_busy_fails_over_like_a_429() -> None:
    with two_upstreams({}, first=SimulatorConfig(fault="423")) as (live, one, two):
        reply = _wire.messages(live.base_url, ASK)
        assert reply.status == 200
        assert (calls(one), calls(two)) == (1, 1)
