"""Per-deployment rate limits: a deployment at its limit is passed over like one answering 429."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from claudegate.gateway import GatewayApp, parse_config
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway.conftest import Live

NOW = [120.0]  # the gateway's clock: the limits' windows move only when a test moves it
ASK = {"max_tokens": 20, "messages": [{"role": "user", "content": "who answers"}]}


def simulator(name: str, priority: int, **limits: int) -> dict[str, Any]:
    deployment: dict[str, Any] = {"provider": "simulator", "name": name, "priority": priority}
    deployment["model"] = "claude-sonnet-5"
    return deployment | ({"limits": limits} if limits else {})


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    config = parse_config(
        {
            "models": [
                {
                    "name": "paced",
                    "deployments": [simulator("paced-a", 1, requests_per_minute=2), simulator("paced-b", 2)],
                },
                {"name": "solo", "deployments": [simulator("solo-a", 1, requests_per_minute=2)]},
                {
                    "name": "narrow",
                    "deployments": [
                        simulator("narrow-a", 1, concurrent_requests=1),
                        simulator("narrow-b", 2),
                    ],
                },
            ]
        }
    )
    app = GatewayApp(config, clock=lambda: NOW[0])
    with LiveServer(app) as server:
        yield Live(app, server.base_url)


def served(live: Live, model: str, deployment: str) -> float:
    text = _wire.metrics(live.base_url)
    return _wire.metric(text, "claudegate_requests_total", model=model, deployment=deployment, status="200")


def test_a_deployment_at_its_request_limit_hands_over_to_the_next(live: Live) -> None:
    for _ in range(2):
        assert _wire.messages(live.base_url, {**ASK, "model": "paced"}).status == 200
    assert (served(live, "paced", "paced-a"), served(live, "paced", "paced-b")) == (2, 0)
    third = _wire.messages(live.base_url, {**ASK, "model": "paced"})
    assert third.status == 200, third.body
    assert "who answers" in third.json()["content"][0]["text"]
    assert (served(live, "paced", "paced-a"), served(live, "paced", "paced-b")) == (2, 1)


def test_a_single_deployment_at_its_limit_answers_429_in_both_dialects(live: Live) -> None:
    for _ in range(2):
        assert _wire.messages(live.base_url, {**ASK, "model": "solo"}).status == 200
    refused = _wire.messages(live.base_url, {**ASK, "model": "solo"})
    assert refused.status == 429
    # At the start of a minute with both requests in it, the sliding window frees one in 90 s.
    assert refused.headers["retry-after"] == "90"
    assert refused.json()["type"] == "error"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    chat = _wire.chat(live.base_url, {"model": "solo", "messages": ASK["messages"]})
    assert chat.status == 429
    assert chat.headers["retry-after"] == "90"
    assert chat.json()["error"]["type"] == "rate_limit_error"
    assert served(live, "solo", "solo-a") == 2
    NOW[0] += 90  # once that wait is over, the deployment admits again
    assert _wire.messages(live.base_url, {**ASK, "model": "solo"}).status == 200


def test_a_busy_deployment_sends_the_parallel_request_elsewhere(live: Live) -> None:
    replies: list[_wire.Reply] = []
    slow = {"x-sim-latency": "ttft=3"}  # long enough for the second request to arrive under load

    def ask() -> None:
        replies.append(_wire.messages(live.base_url, {**ASK, "model": "narrow"}, slow))

    first = threading.Thread(target=ask)
    first.start()
    # The first call is in flight once the core counts it; it took narrow-a's only slot in the same
    # step of the event loop, before the second request can be read.
    deadline = time.monotonic() + 30
    while live.app.core.runtime.active == 0 and first.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.005)
    ask()
    first.join()
    assert [reply.status for reply in replies] == [200, 200]
    assert (served(live, "narrow", "narrow-a"), served(live, "narrow", "narrow-b")) == (1, 1)
    # A whole answer is settled (its slot given back) before it is sent.
    assert _wire.messages(live.base_url, {**ASK, "model": "narrow"}).status == 200
    assert served(live, "narrow", "narrow-a") == 2
