"""Active health probes: with no client traffic, /health/deployments follows the upstream's state.

The upstream is a simulator on loopback behind a switch that, while down, answers every request
with a 503; calls are counted from the simulator's request log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from claudegate.gateway._http import Receive, Scope, Send
from claudegate.simulator import SimulatorApp
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway.conftest import Live, serve

KEY_ENV = "GW_HEALTH_PROBES_KEY"
PROBES = {"interval": 0.02, "timeout": 2}
_DOWN = b'{"type":"error","error":{"type":"overloaded_error","message":"the upstream is down"}}'


class Switch:
    """The simulator, or a 503 for every HTTP request while ``down``."""

    def __init__(self, app: SimulatorApp) -> None:
        self.app = app
        self.down = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.down:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": _DOWN})


@contextmanager
def probed(deployment: dict[str, Any], route: dict[str, Any]) -> Iterator[tuple[Live, Switch]]:
    with ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv(KEY_ENV, "sk-ant-api03-health-probes-key-0000")
        switch = Switch(create_simulator())
        url = stack.enter_context(LiveServer(switch)).base_url
        deployments = [{"name": "probed", **deployment, "base_url": url + deployment.pop("base_url", "")}]
        config = {"models": [{"name": "claude-sonnet-5", "deployments": deployments, **route}]}
        yield stack.enter_context(serve(config)), switch


def paths(switch: Switch) -> list[str]:
    return [entry["path"] for entry in switch.app.simulator.log.entries()]


def state(live: Live) -> dict[str, Any]:
    reply = _wire.call(live.base_url, "GET", "/health/deployments")
    assert reply.status == 200
    found: dict[str, Any] = {item["name"]: item for item in reply.json()["deployments"]}["probed"]
    return found


def wait_for(live: Live, wanted: str, seconds: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        current = state(live)
        if current["state"] == wanted or time.monotonic() > deadline:
            return current
        time.sleep(0.02)


def test_probes_alone_mark_a_down_upstream_unhealthy_then_healthy_again() -> None:
    anthropic = {"provider": "anthropic", "api_key": f"env:{KEY_ENV}", "health_check": PROBES}
    with probed(anthropic, {}) as (live, switch):
        switch.down = True
        down = wait_for(live, "unhealthy")
        assert down["state"] == "unhealthy"
        assert down["last_error"] == "probe failed: 503"
        switch.down = False
        up = wait_for(live, "healthy")
        assert up["state"] == "healthy"
        assert up["consecutive_failures"] == 0
        seen = paths(switch)
        assert "/v1/messages/count_tokens" in seen  # the cheap call: a token count
        assert "/v1/messages" not in seen  # no client traffic, no message


def test_without_a_token_count_the_probe_is_a_one_token_message() -> None:
    openai = {"provider": "openai", "base_url": "/v1"}
    with probed(openai, {"health_check": PROBES}) as (live, switch):  # the route's probes
        assert wait_for(live, "healthy")["state"] == "healthy"
        switch.down = True
        assert wait_for(live, "unhealthy")["state"] == "unhealthy"
        probes = [e for e in switch.app.simulator.log.entries() if e["path"] == "/v1/chat/completions"]
        assert probes[0]["model"] == "claude-sonnet-5"  # the route's name stands for the upstream model
        assert state(live)["calls"] >= 3


def test_without_health_check_there_are_no_probes() -> None:
    anthropic = {"provider": "anthropic", "api_key": f"env:{KEY_ENV}"}
    with probed(anthropic, {}) as (live, switch):
        time.sleep(0.2)
        assert state(live)["state"] == "unknown"
        assert paths(switch) == []
