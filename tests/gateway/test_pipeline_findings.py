"""What measurement found in the call pipeline, each fixed and held: issued keys are enforced,
a caller's mistake is not a deployment's failure, upstream errors are relayed whole, and the
answers a newcomer meets (unknown model, model aliases, latency header on errors) say enough."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudegate.gateway import create_app, parse_config
from claudegate.providers.simulator import SimulatorProvider
from claudegate.store import Database, KeyStore
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._upstreams import lifespan
from tests.gateway.conftest import serve, simulator_route

ASK = {"model": "claude-sonnet-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}

DETAILED = {
    "type": "error",
    "error": {
        "type": "invalid_request_error",
        "message": "thread: no such thread",
        "details": {"error_code": "thread_not_found", "thread_id": "thr_123"},
    },
    "request_id": "req_upstream_0001",
}


async def _issue_key(directory: Path) -> str:
    database = await Database.connect(
        f"sqlite+aiosqlite:///{directory / 'claudegate.db'}", table_prefix="cg_"
    )
    try:
        return (await KeyStore(database).create("alice")).plaintext
    finally:
        await database.close()


def test_keys_issued_are_enforced_without_an_auth_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default key database is ./claudegate.db
    key = asyncio.run(_issue_key(tmp_path))
    with serve({"models": [simulator_route()]}) as live:
        refused = _wire.messages(live.base_url, ASK, {"x-api-key": ""})
        assert refused.status == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        assert _wire.messages(live.base_url, ASK, {"x-api-key": "not-a-key"}).status == 401
        assert _wire.messages(live.base_url, ASK, {"x-api-key": key}).status == 200
    # Saying so explicitly opens it again; a caller presenting a key is still known by it.
    with serve({"models": [simulator_route()], "auth": {"enforce": False}}) as live:
        assert _wire.messages(live.base_url, ASK, {"x-api-key": ""}).status == 200
        assert _wire.messages(live.base_url, ASK, {"x-api-key": key}).status == 200


def test_without_a_key_database_the_gateway_stays_open_and_loads_no_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with serve({"models": [simulator_route()]}) as live:
        assert _wire.messages(live.base_url, ASK, {"x-api-key": ""}).status == 200
        assert live.app.core.policies is None
    assert not (tmp_path / "claudegate.db").exists()


def test_client_errors_do_not_mark_a_deployment_unhealthy() -> None:
    with serve({"models": [simulator_route()]}) as live:
        for fault in ("400", "404", "413", "400", "400"):
            assert _wire.messages(live.base_url, ASK, {"x-sim-fault": fault}).status == int(fault)
        health = _wire.call(live.base_url, "GET", "/health/deployments").json()["deployments"]
        assert [deployment["state"] for deployment in health] == ["healthy"]
        for _ in range(3):
            assert _wire.messages(live.base_url, ASK, {"x-sim-fault": "500"}).status == 500
        health = _wire.call(live.base_url, "GET", "/health/deployments").json()["deployments"]
        assert [deployment["state"] for deployment in health] == ["unhealthy"]


class DetailedErrors:
    """An Anthropic upstream that refuses every request with an error carrying ``details``."""

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        body = orjson.dumps(DETAILED)
        headers = [(b"content-type", b"application/json"), (b"request-id", b"req_upstream_0001")]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def test_upstream_errors_are_relayed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_DETAILED_KEY", "sk-ant-detailed-000000")
    with LiveServer(DetailedErrors()) as upstream:
        route = {
            "name": "*",
            "deployments": [
                {"provider": "anthropic", "base_url": upstream.base_url, "api_key": "env:CG_DETAILED_KEY"}
            ],
        }
        with serve({"models": [route]}) as live:
            for body in (ASK, {**ASK, "stream": True}):
                reply = _wire.messages(live.base_url, body)
                assert reply.status == 400
                assert reply.json() == DETAILED  # details, message and the upstream's request id kept
                assert reply.headers["request-id"].startswith("req_")
                assert reply.headers["request-id"] != "req_upstream_0001"  # the gateway's own id
                assert "x-upstream-latency" in reply.headers
            chat = _wire.chat(live.base_url, {"model": "m", "messages": ASK["messages"]})
            assert chat.status == 400
            assert chat.json()["error"]["message"] == "thread: no such thread"
            assert chat.json()["error"]["code"] == "invalid_request_error"


def test_an_unknown_model_404_names_what_is_served() -> None:
    config = {"models": [simulator_route("claude-sonnet-5"), simulator_route("claude-haiku-5")]}
    with serve(config) as live:
        reply = _wire.messages(live.base_url, {**ASK, "model": "claude-sonet-5"})
        assert reply.status == 404
        message = reply.json()["error"]["message"]
        assert "claude-sonet-5" in message and "claude-sonnet-5" in message and "claude-haiku-5" in message
        huge = _wire.messages(live.base_url, {**ASK, "model": "x" * 100_000})
        assert huge.status == 404 and len(huge.body) < 2_000
        assert _wire.call(live.base_url, "GET", "/v1/models/claude-opus-9").status == 404


def test_a_model_alias_resolves_to_its_dated_catalogue_entry() -> None:
    app = create_app(parse_config({"models": [simulator_route()]}))
    providers = [deployment.provider for deployment in app.core.router.deployments()]
    specs = [
        spec
        for provider in providers
        if isinstance(provider, SimulatorProvider)
        for spec in provider.simulator.config.models
        if spec.aliases
    ]
    assert specs, "the simulator's catalogue has aliased models"
    spec = specs[0]
    with LiveServer(app) as server:
        reply = _wire.call(server.base_url, "GET", f"/v1/models/{spec.aliases[0]}")
        assert reply.status == 200
        assert reply.json()["id"] == spec.id
        assert reply.json()["created_at"] == spec.created_at
