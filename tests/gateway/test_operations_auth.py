"""With keys enforced, what operators read needs a key; token counting has a budget of its own;
a request no limit can ever admit is refused for good; echoed input is cut short."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.gateway import _wire
from tests.gateway.conftest import serve, simulator_route
from tests.gateway.test_keys import ADMIN, create_key, keyed_config

ASK = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
OPERATIONS = ["/metrics", "/health/deployments", "/v1/models", "/v1/models/claude-sonnet-5"]


@pytest.fixture(autouse=True)
def admin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)


def get(base_url: str, path: str, key: str | None = None) -> _wire.Reply:
    return _wire.call(base_url, "GET", path, None, {"x-api-key": key} if key else {})


def test_operational_endpoints_need_a_key_once_keys_are_enforced(tmp_path: Path) -> None:
    with serve(keyed_config(tmp_path / "ops.db")) as live:
        base = live.base_url
        # Before any key is issued the gateway is open, and so are its operational endpoints.
        assert all(get(base, path).status == 200 for path in OPERATIONS)
        key = create_key(base)["key"]
        for path in OPERATIONS:
            refused = get(base, path)
            assert refused.status == 401, path
            assert refused.json()["error"]["type"] == "authentication_error"
            assert get(base, path, "cg-wrong-key").status == 401
            assert get(base, path, key).status == 200, path
            assert get(base, path, ADMIN).status == 200, path
        assert get(base, "/health").status == 200
        assert get(base, "/ready").json() == {"status": "ready"}


def test_operations_can_be_kept_to_the_admin_key(tmp_path: Path) -> None:
    config = keyed_config(tmp_path / "ops.db")
    config["auth"]["operations"] = "admin"
    with serve(config) as live:
        key = create_key(live.base_url)["key"]
        for path in OPERATIONS:
            assert get(live.base_url, path, key).status == 403, path
            assert get(live.base_url, path, ADMIN).status == 200, path


def test_ready_tells_what_is_wrong_only_to_operators(tmp_path: Path) -> None:
    config = keyed_config(
        tmp_path / "ops.db",
        storage={
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}",
            "redis_url": "redis://127.0.0.1:1/0",  # nothing listens there
            "redis_failure_policy": "fail_open",
        },
    )
    with serve(config) as live:
        key = create_key(live.base_url)["key"]
        anyone = get(live.base_url, "/ready").json()
        assert anyone == {"status": "degraded"}
        operator = get(live.base_url, "/ready", key).json()
        assert operator["status"] == "degraded" and operator["counters"]["ok"] is False


def test_token_counts_are_limited_apart_from_model_calls() -> None:
    config = {"models": [simulator_route()], "limits": {"per_key": {"requests_per_minute": 2}}}
    body = {"model": "claude-sonnet-5", "messages": ASK["messages"]}
    with serve(config) as live:
        counted = [_wire.post(live.base_url, "/v1/messages/count_tokens", body) for _ in range(3)]
        assert [reply.status for reply in counted] == [200, 200, 429]
        assert "retry-after" in counted[2].headers
        # Counting did not spend the model calls' budget.
        assert [_wire.messages(live.base_url, ASK).status for _ in range(3)] == [200, 200, 429]


def test_a_request_larger_than_every_deployment_admits_is_refused_for_good() -> None:
    deployment: dict[str, Any] = {
        "provider": "simulator",
        "name": "small",
        "limits": {"output_tokens_per_minute": 100},
    }
    with serve({"models": [{"name": "*", "deployments": [deployment]}]}) as live:
        reply = _wire.messages(live.base_url, {**ASK, "max_tokens": 101})
        assert reply.status == 400
        assert reply.headers["x-should-retry"] == "false"
        assert "can never be served" in reply.json()["error"]["message"]
        assert _wire.messages(live.base_url, {**ASK, "max_tokens": 100}).status == 200


def test_echoed_input_is_cut_short() -> None:
    with serve({"models": [simulator_route("claude-sonnet-5")]}) as live:
        long = "x" * 1_000_000
        model = _wire.messages(live.base_url, {**ASK, "model": long})
        assert model.status == 404 and len(model.body) < 2_000
        route = _wire.call(live.base_url, "GET", "/" + "y" * 10_000)
        assert route.status == 404 and len(route.body) < 2_000
