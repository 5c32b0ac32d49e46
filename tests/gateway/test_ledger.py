"""The usage ledger: one row per request (JSON and streamed, both dialects), written off the hot
path and all present after a clean shutdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from claudegate.client import cost_of_usage, price_for_model
from claudegate.gateway import create_app, parse_config
from tests.gateway import _wire
from tests.gateway._ledger import rows
from tests.gateway.conftest import serve, simulator_route

ADMIN = "admin-secret-for-tests-0123456789"
ASK = {"model": "claude-sonnet-5", "max_tokens": 30, "messages": [{"role": "user", "content": "hello"}]}


def test_one_row_per_request_present_after_a_clean_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    db = tmp_path / "g.db"
    config = {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY"},
        "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
    }
    with serve(config) as live:
        created = _wire.call(
            live.base_url, "POST", "/admin/keys", {"name": "l"}, {"authorization": f"Bearer {ADMIN}"}
        )
        key, key_id = created.json()["key"], created.json()["id"]
        plain = _wire.messages(live.base_url, ASK, {"x-api-key": key})
        streamed = _wire.messages(live.base_url, {**ASK, "stream": True}, {"x-api-key": key})
        chat = _wire.chat(live.base_url, {**ASK, "stream": True}, {"authorization": f"Bearer {key}"})
        failed = _wire.messages(live.base_url, ASK, {"x-api-key": key, "x-sim-fault": "overloaded"})
    assert (plain.status, streamed.status, chat.status) == (200, 200, 200)
    written = rows(db)  # the gateway is gone: every row was flushed by its shutdown
    assert [row["request_id"] for row in written] == [
        plain.headers["request-id"],
        streamed.headers["request-id"],
        chat.headers["request-id"],
        failed.headers["request-id"],
    ]
    assert all(row["key_id"] == key_id and row["model"] == "claude-sonnet-5" for row in written)
    first, second, third, fourth = written
    usage = plain.json()["usage"]
    price = price_for_model("claude-sonnet-5")
    assert price is not None
    assert (first["input_tokens"], first["output_tokens"]) == (usage["input_tokens"], usage["output_tokens"])
    assert first["cost"] == pytest.approx(cost_of_usage(usage, price))
    assert first["stream"] == 0 and first["dialect"] == "anthropic" and first["deployment"]
    events = _wire.anthropic_events(streamed.body)
    assert second["stream"] == 1 and second["output_tokens"] == events[-2]["usage"]["output_tokens"]
    assert second["cost"] > 0 and second["latency_ms"] > 0
    assert third["dialect"] == "openai" and third["stream"] == 1 and third["output_tokens"] > 0
    assert fourth["status"] == failed.status != 200 and fourth["cost"] == 0


def test_ledger_is_on_when_storage_is_configured_and_records_refusals(tmp_path: Path) -> None:
    db = tmp_path / "only-storage.db"
    assert create_app(parse_config({"models": [simulator_route()]})).core.policies is None
    config = {
        "models": [simulator_route()],
        "limits": {"per_key": {"requests_per_minute": 1}},
        "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
    }
    with serve(config) as live:
        replies = [_wire.chat(live.base_url, ASK) for _ in range(2)]
    written = rows(db)
    assert [row["request_id"] for row in written] == [reply.headers["request-id"] for reply in replies]
    assert [row["status"] for row in written] == [200, 429]
    assert all(row["key_id"] is None for row in written)
