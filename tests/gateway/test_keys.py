"""Gateway API keys: the admin API, ``claudegate keys``, hashes only at rest, revocation, model
restriction, open mode, and the client's key never reaching the upstream."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from claudegate.cli import app as cli
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._upstreams import RecordingAnthropic
from tests.gateway.conftest import serve, simulator_route

ADMIN = "admin-secret-for-tests-0123456789"
ASK = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "claude-sonnet-5", "messages": [{"role": "user", "content": "hi"}]}


def keyed_config(db: Path, **extra: Any) -> dict[str, Any]:
    return {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
        **extra,
    }


@pytest.fixture(autouse=True)
def admin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)


def admin(base_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> _wire.Reply:
    return _wire.call(base_url, method, path, body, {"authorization": f"Bearer {ADMIN}"})


def create_key(base_url: str, **fields: Any) -> dict[str, Any]:
    reply = admin(base_url, "POST", "/admin/keys", {"name": "tests", **fields})
    assert reply.status == 201, reply.body
    created: dict[str, Any] = reply.json()
    return created


def messages(base_url: str, key: str | None, body: dict[str, Any] | None = None) -> _wire.Reply:
    headers = {"anthropic-version": "2023-06-01"}
    if key is not None:
        headers["x-api-key"] = key
    return _wire.post(base_url, "/v1/messages", body or ASK, headers)


def chat(base_url: str, key: str | None, body: dict[str, Any] | None = None) -> _wire.Reply:
    headers = {"authorization": f"Bearer {key}"} if key is not None else {}
    return _wire.post(base_url, "/v1/chat/completions", body or CHAT, headers)


def test_admin_api_needs_the_admin_key_in_either_dialect(tmp_path: Path) -> None:
    with serve(keyed_config(tmp_path / "g.db")) as live:
        missing = _wire.call(live.base_url, "GET", "/admin/keys", headers={"anthropic-version": "2023-06-01"})
        wrong_anthropic = _wire.call(
            live.base_url,
            "GET",
            "/admin/keys",
            headers={"x-api-key": "nope", "anthropic-version": "2023-06-01"},
        )
        wrong_openai = _wire.call(
            live.base_url, "POST", "/admin/keys", {"name": "x"}, {"authorization": "Bearer no"}
        )
        listed = admin(live.base_url, "GET", "/admin/keys")
    assert missing.status == 401 and missing.json()["error"]["type"] == "authentication_error"
    assert wrong_anthropic.status == 403 and wrong_anthropic.json()["type"] == "error"
    assert wrong_openai.status == 403 and wrong_openai.json()["error"]["type"] == "permission_error"
    assert listed.status == 200 and listed.json() == {"data": []}


def test_key_lifecycle_over_the_admin_api(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    with serve(keyed_config(db)) as live:
        created = create_key(live.base_url, name="team-a")
        plaintext = created["key"]
        listed = admin(live.base_url, "GET", "/admin/keys").json()["data"]
        by_header = messages(live.base_url, plaintext)
        by_bearer = chat(live.base_url, plaintext)
        without = messages(live.base_url, None)
        wrong = chat(live.base_url, "cg-not-a-real-key")
        revoked = admin(live.base_url, "DELETE", f"/admin/keys/{created['id']}")
        after = messages(live.base_url, plaintext)
        after_openai = chat(live.base_url, plaintext)
        unknown = admin(live.base_url, "DELETE", "/admin/keys/key_missing")
    assert [item["name"] for item in listed] == ["team-a"] and "key" not in listed[0]
    assert by_header.status == 200 and by_header.json()["type"] == "message"
    assert by_bearer.status == 200 and by_bearer.json()["object"] == "chat.completion"
    assert without.status == 401 and without.json()["error"]["type"] == "authentication_error"
    assert wrong.status == 401 and wrong.json()["error"]["type"] == "authentication_error"
    assert revoked.status == 200 and revoked.json()["revoked_at"] is not None
    assert after.status == 401 and after.json()["type"] == "error"
    assert after_openai.status == 401 and "error" in after_openai.json()
    assert unknown.status == 404
    stored = sqlite3.connect(db).execute("SELECT * FROM cg_api_keys").fetchall()
    cells = [str(cell) for row in stored for cell in row]
    assert not any(plaintext in cell for cell in cells)
    assert hashlib.sha256(plaintext.encode()).hexdigest() in cells


def test_limits_and_budget_change_over_the_admin_api_and_apply_at_once(tmp_path: Path) -> None:
    with serve(keyed_config(tmp_path / "g.db", auth={"admin_key": "env:CG_TEST_ADMIN_KEY"})) as live:
        created = create_key(live.base_url, limits={"requests_per_minute": 1}, budget={"cost_per_day": 5})
        key, path = created["key"], f"/admin/keys/{created['id']}"
        first, limited = messages(live.base_url, key), messages(live.base_url, key)
        raised = admin(live.base_url, "PATCH", path, {"limits": {"requests_per_minute": 100}})
        after = messages(live.base_url, key)  # the cached key is dropped: its new limit applies now
        capped = admin(live.base_url, "PATCH", path, {"budget": {"cost_per_day": 0, "cost_per_month": 9.5}})
        refused = messages(live.base_url, key)
        listed = admin(live.base_url, "GET", "/admin/keys").json()["data"]
        unknown_field = admin(live.base_url, "PATCH", path, {"limit": {}})
        bad_value = admin(live.base_url, "PATCH", path, {"limits": {"concurrent_requests": 1.5}})
        unknown_key = admin(live.base_url, "PATCH", "/admin/keys/key_missing", {"limits": {}})
        admin(live.base_url, "DELETE", path)
        revoked = admin(live.base_url, "PATCH", path, {"limits": {}})
    assert (first.status, limited.status, after.status) == (200, 429, 200)
    assert raised.status == 200 and raised.json()["limits"]["requests_per_minute"] == 100
    assert raised.json()["budget"] == {"cost_per_day": 5, "cost_per_month": None}  # not given: kept
    assert capped.json()["budget"] == {"cost_per_day": 0, "cost_per_month": 9.5}
    assert refused.status == 429 and "budget exhausted" in refused.json()["error"]["message"]
    assert listed[0]["limits"]["requests_per_minute"] == 100 and listed[0]["budget"]["cost_per_day"] == 0
    assert unknown_field.status == 400 and unknown_field.json()["error"]["param"] == "limit"
    assert bad_value.status == 400 and bad_value.json()["error"]["param"] == "limits"
    assert unknown_key.status == 404
    assert revoked.status == 409


def test_model_restriction_answers_403_in_the_callers_dialect(tmp_path: Path) -> None:
    with serve(keyed_config(tmp_path / "g.db")) as live:
        key = create_key(live.base_url, allowed_models=["claude-haiku-4-5"])["key"]
        allowed = messages(live.base_url, key, {**ASK, "model": "claude-haiku-4-5"})
        refused = messages(live.base_url, key)
        refused_openai = chat(live.base_url, key)
    assert allowed.status == 200
    assert refused.status == 403 and refused.json()["error"]["type"] == "permission_error"
    assert "claude-sonnet-5" in refused.json()["error"]["message"]
    assert refused_openai.status == 403 and refused_openai.json()["error"]["param"] == "model"


def test_open_until_the_first_key_is_issued(tmp_path: Path) -> None:
    with serve(keyed_config(tmp_path / "g.db")) as live:
        before = messages(live.base_url, None)
        create_key(live.base_url)
        after = messages(live.base_url, None)
    assert before.status == 200
    assert after.status == 401


def test_cli_creates_lists_and_revokes_keys_the_gateway_honours(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    url = f"sqlite+aiosqlite:///{db}"
    runner = CliRunner()
    made = runner.invoke(
        cli,
        ["keys", "create", "ci", "--database-url", url, "--model", "claude-sonnet-5", "--cost-per-day", "5"],
    )
    assert made.exit_code == 0, made.output
    fields = {
        name: value.strip() for name, _, value in (line.partition(":") for line in made.stdout.splitlines())
    }
    key_id, plaintext = fields["id"], fields["key"]
    listed = runner.invoke(cli, ["keys", "list", "--database-url", url, "--json"])
    assert listed.exit_code == 0
    [shown] = orjson.loads(listed.stdout)
    assert shown["id"] == key_id and shown["budget"]["cost_per_day"] == 5 and plaintext not in listed.stdout
    with serve(keyed_config(db)) as live:
        accepted = messages(live.base_url, plaintext)
        assert runner.invoke(cli, ["keys", "revoke", key_id, "--database-url", url]).exit_code == 0
        refused = messages(live.base_url, plaintext)
    assert (accepted.status, refused.status) == (200, 401)
    missing = runner.invoke(cli, ["keys", "revoke", "key_nope", "--database-url", url])
    assert missing.exit_code == 1


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"models: [{{name: '*', deployments: [{{provider: simulator}}]}}]\n"
        f"auth: {{cache_seconds: 0}}\nstorage: {{database_url: 'sqlite+aiosqlite:///{tmp_path / 'g.db'}'}}\n"
    )
    result = CliRunner().invoke(cli, ["serve", "--config", str(config), "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "--allow-open" in result.output


def test_the_callers_key_is_not_forwarded_upstream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    upstream = RecordingAnthropic(orjson.dumps(body), b"", 3)
    with LiveServer(upstream) as server:
        route = {
            "name": "*",
            "deployments": [{"provider": "anthropic", "base_url": server.base_url, "api_key": "env:CG_UP"}],
        }
        monkeypatch.setenv("CG_UP", "sk-ant-upstream-key")
        with serve(keyed_config(tmp_path / "g.db", models=[route])) as live:
            key = create_key(live.base_url)["key"]
            reply = messages(live.base_url, key)
    assert reply.status == 200
    [seen] = upstream.requests
    assert key not in str(seen.headers) and seen.headers.get("x-api-key") == "sk-ant-upstream-key"
