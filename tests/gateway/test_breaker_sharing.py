"""An open breaker is shared through Redis: every replica skips the deployment without calling it.

Two gateways (two live servers) share one Redis; both route to the same two simulators on
loopback, and calls are counted from each simulator's request log.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from claudegate.simulator import SimulatorApp, SimulatorConfig
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway.conftest import serve
from tests.store.conftest import REDIS_URL, delete_prefixed_keys

ASK = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}
KEY_ENV = "GW_BREAKER_SHARING_KEY"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"cgbreaker{uuid.uuid4().hex[:10]}"
    yield prefix
    asyncio.run(delete_prefixed_keys(prefix))


def calls(app: SimulatorApp) -> int:
    return sum(1 for entry in app.simulator.log.entries() if entry["path"] == "/v1/messages")


def config(urls: list[str], prefix: str) -> dict[str, Any]:
    deployments = [
        {"provider": "anthropic", "name": name, "base_url": url, "api_key": f"env:{KEY_ENV}", "priority": p}
        for name, url, p in zip(("one", "two"), urls, (1, 2), strict=True)
    ]
    route = {
        "name": "claude-sonnet-5",
        "deployments": deployments,
        "breaker": {"failure_threshold": 2, "open_duration": 30},
    }
    storage = {"database_url": "sqlite+aiosqlite:///:memory:", "redis_url": REDIS_URL, "redis_prefix": prefix}
    return {"models": [route], "storage": storage}


def test_a_breaker_opened_by_one_gateway_makes_the_other_skip_the_deployment(redis_prefix: str) -> None:
    with ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv(KEY_ENV, "sk-ant-api03-breaker-sharing-key-000")
        one, two = create_simulator(SimulatorConfig(fault="500")), create_simulator()
        urls = [stack.enter_context(LiveServer(app)).base_url for app in (one, two)]
        first = stack.enter_context(serve(config(urls, redis_prefix)))
        second = stack.enter_context(serve(config(urls, redis_prefix)))

        for _ in range(2):
            assert _wire.messages(first.base_url, ASK).status == 200  # failed over to two
        assert (calls(one), calls(two)) == (2, 2)  # two failures: the breaker of one opened

        for _ in range(3):
            assert _wire.messages(second.base_url, ASK).status == 200
        assert (calls(one), calls(two)) == (2, 5)  # the second gateway never called one

        reply = _wire.call(second.base_url, "GET", "/health/deployments")
        states = {item["name"]: item for item in reply.json()["deployments"]}
        assert states["one"]["calls"] == 0  # skipped on the shared flag, not on its own failures
