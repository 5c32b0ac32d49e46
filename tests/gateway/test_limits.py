"""Rate limits: requests, input and output tokens per minute and concurrent requests, refused at
the right count with ``retry-after`` and the rate-limit headers of the caller's dialect."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.gateway import _wire
from tests.gateway.conftest import serve, simulator_route

ASK = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def limited(**per_key: int) -> dict[str, Any]:
    return {"models": [simulator_route()], "limits": {"per_key": per_key}}


def test_requests_per_minute_in_the_anthropic_dialect() -> None:
    with serve(limited(requests_per_minute=3)) as live:
        replies = [_wire.messages(live.base_url, ASK) for _ in range(4)]
    assert [reply.status for reply in replies] == [200, 200, 200, 429]
    remaining = [reply.headers["anthropic-ratelimit-requests-remaining"] for reply in replies[:3]]
    assert remaining == ["2", "1", "0"]
    refused = replies[3]
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.headers["anthropic-ratelimit-requests-limit"] == "3"
    assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert 1 <= int(refused.headers["retry-after"]) <= 120  # at most two sliding windows
    assert int(refused.headers["anthropic-ratelimit-requests-reset"]) >= 1
    assert refused.headers["x-should-retry"] == "true"


def test_requests_per_minute_in_the_openai_dialect() -> None:
    with serve(limited(requests_per_minute=2)) as live:
        replies = [_wire.chat(live.base_url, CHAT) for _ in range(3)]
    assert [reply.status for reply in replies] == [200, 200, 429]
    assert replies[0].headers["x-ratelimit-remaining-requests"] == "1"
    refused = replies[2]
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.headers["x-ratelimit-limit-requests"] == "2"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-reset-requests"].endswith("s")
    assert "anthropic-ratelimit-requests-limit" not in refused.headers


def test_output_tokens_are_charged_from_max_tokens_then_corrected() -> None:
    limit = 100
    body = {**ASK, "max_tokens": 60}
    with serve(limited(output_tokens_per_minute=limit)) as live:
        first = _wire.messages(live.base_url, body)
        second = _wire.messages(live.base_url, body)
        too_big = _wire.messages(live.base_url, {**ASK, "max_tokens": limit + 1})
    used = first.json()["usage"]["output_tokens"]
    assert used < 40  # the correction is what lets the second request in: 60 + 60 > 100
    assert first.headers["anthropic-ratelimit-output-tokens-remaining"] == str(limit - 60)
    assert second.status == 200
    assert second.headers["anthropic-ratelimit-output-tokens-remaining"] == str(limit - used - 60)
    # Larger than the limit itself: no wait would admit it, so it is refused for good, naming it.
    assert too_big.status == 400 and too_big.headers["x-should-retry"] == "false"
    message = too_big.json()["error"]["message"]
    assert "max_tokens (101)" in message and "100 output tokens per minute" in message


def test_input_tokens_are_estimated_from_the_request_size_then_corrected() -> None:
    size = len(orjson.dumps(ASK))
    estimate = math.ceil(size / 3)
    limit = estimate * 2 + 5
    with serve(limited(input_tokens_per_minute=limit)) as live:
        first = _wire.messages(live.base_url, ASK)
        second = _wire.messages(live.base_url, ASK)
        third = _wire.chat(
            live.base_url, {**CHAT, "messages": [{"role": "user", "content": "x" * 3 * limit}]}
        )
    real = first.json()["usage"]["input_tokens"]
    assert first.headers["anthropic-ratelimit-input-tokens-remaining"] == str(limit - estimate)
    assert second.headers["anthropic-ratelimit-input-tokens-remaining"] == str(limit - real - estimate)
    assert third.status == 400 and third.headers["x-should-retry"] == "false"
    assert f"limit of {limit} input tokens per minute" in third.json()["error"]["message"]


def test_concurrency_limit_with_parallel_slow_streams() -> None:
    simulated = {"provider": "simulator", "model": "claude-sonnet-5", "simulator": {"event_delay": 0.05}}
    slow = {"name": "slow", "deployments": [simulated]}
    config = {"models": [slow, simulator_route()], "limits": {"per_key": {"concurrent_requests": 2}}}
    body = {"model": "slow", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with serve(config) as live:
        held = [
            _wire.start(live.base_url, "POST", "/v1/messages", body, _wire.ANTHROPIC_HEADERS)
            for _ in range(2)
        ]
        assert all(response.status == 200 for _, response in held)
        refused = _wire.messages(live.base_url, body)
        refused_openai = _wire.chat(live.base_url, body)
        for connection, response in held:
            assert b"message_stop" in response.read()
            connection.close()
        admitted = _wire.messages(live.base_url, ASK)
    assert refused.status == 429 and "concurrent" in refused.json()["error"]["message"]
    assert refused_openai.status == 429 and refused_openai.json()["error"]["type"] == "rate_limit_error"
    assert admitted.status == 200 and admitted.json()["type"] == "message"


def test_each_key_has_its_own_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", "admin-secret-for-tests-0123456789")
    config = {
        **limited(requests_per_minute=50),
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY"},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
    }
    admin = {"authorization": "Bearer admin-secret-for-tests-0123456789"}
    with serve(config) as live:
        tight = _wire.call(
            live.base_url, "POST", "/admin/keys", {"name": "t", "limits": {"requests_per_minute": 2}}, admin
        )
        loose = _wire.call(live.base_url, "POST", "/admin/keys", {"name": "l"}, admin)
        statuses = [
            _wire.messages(live.base_url, ASK, {"x-api-key": tight.json()["key"]}).status for _ in range(3)
        ]
        others = [
            _wire.messages(live.base_url, ASK, {"x-api-key": loose.json()["key"]}).status for _ in range(3)
        ]
    assert statuses == [200, 200, 429]
    assert others == [200, 200, 200]
