"""Upstream timeouts from the config: the gateway's own, and a deployment's override."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway.conftest import serve

ASK = {"model": "claude-sonnet-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hello"}]}
STALL = {"x-sim-fault": "stall"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with LiveServer(create_simulator()) as server:
        yield server.base_url


def _deployment(base_url: str, **extra: object) -> dict[str, object]:
    return {"provider": "anthropic", "base_url": base_url, "api_key": "env:CG_TIMEOUT_KEY", **extra}


def test_the_gateway_timeouts_bound_a_stalled_upstream(
    upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CG_TIMEOUT_KEY", "sk-upstream-0000001")
    config = {
        "gateway": {"timeouts": {"connect": 1, "read": 0.3, "total": 0.5}},
        "models": [{"name": "*", "deployments": [_deployment(upstream)]}],
    }
    with serve(config) as live:
        started = time.monotonic()
        reply = _wire.messages(live.base_url, ASK, STALL)
        assert time.monotonic() - started < 2
    assert reply.status == 504
    assert reply.json()["error"]["type"] == "timeout_error"


def test_a_deployment_timeout_overrides_the_gateway(upstream: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TIMEOUT_KEY", "sk-upstream-0000001")
    quick = _deployment(upstream, timeouts={"connect": 1, "read": 0.2, "total": 0.3})
    config = {"gateway": {"timeouts": {"total": 60}}, "models": [{"name": "*", "deployments": [quick]}]}
    with serve(config) as live:
        started = time.monotonic()
        reply = _wire.messages(live.base_url, ASK, STALL)
        elapsed = time.monotonic() - started
    assert reply.status == 504 and elapsed < 2
