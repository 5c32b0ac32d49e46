"""``/v1/messages/batches`` through the official ``anthropic`` SDK: a batch runs on the job engine
across routes, its results equal the same requests sent one by one, each request passes the key's
limits and budget and writes one ledger row, and another key cannot see it."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anthropic
import pytest
from anthropic.types.messages import MessageBatch
from anthropic.types.messages.batch_create_params import Request

from claudegate.simulator import SimulatorConfig
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _ledger, _wire
from tests.gateway.conftest import serve, simulator_route

ADMIN = "admin-secret-for-batches-tests-0123456"
PROMPTS = ["hello there", "tell me about otters", "what is two plus two", "name a colour"]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    return {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "jobs": {"backoff": 0.01},
    }


@pytest.fixture(scope="module")
def openai_upstream() -> Iterator[str]:
    """The simulator's ``/v1/chat/completions`` on loopback: an OpenAI-compatible upstream."""
    with LiveServer(create_simulator()) as upstream:
        yield upstream.base_url + "/v1"


def new_key(base_url: str, **fields: Any) -> str:
    reply = _wire.call(
        base_url, "POST", "/admin/keys", {"name": "b", **fields}, {"authorization": f"Bearer {ADMIN}"}
    )
    assert reply.status == 201, reply.body
    key: str = reply.json()["key"]
    return key


def params(prompt: str, model: str = "claude-sonnet-5") -> dict[str, Any]:
    return {"model": model, "max_tokens": 40, "messages": [{"role": "user", "content": prompt}]}


def batch_requests(prompts: list[str], model: str = "claude-sonnet-5") -> list[Request]:
    return [cast(Request, {"custom_id": f"r-{i}", "params": params(p, model)}) for i, p in enumerate(prompts)]


def ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 30.0) -> MessageBatch:
    """The batch once it has ended (read as a client would, until the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended" or time.monotonic() > deadline:
            return batch
        time.sleep(0.02)


def run_batch(base_url: str, key: str, model: str = "claude-sonnet-5") -> None:
    with anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0) as client:
        created = client.messages.batches.create(requests=batch_requests(PROMPTS, model))
        assert created.processing_status == "in_progress" and created.id.startswith("msgbatch_")
        assert created.request_counts.processing == len(PROMPTS) and created.results_url is None
        assert created.expires_at > created.created_at
        batch = ended(client, created.id)
        assert batch.processing_status == "ended" and batch.ended_at is not None
        assert batch.request_counts.succeeded == len(PROMPTS) and batch.request_counts.processing == 0
        assert batch.results_url is not None and batch.results_url.endswith(f"/{batch.id}/results")
        results = {item.custom_id: item.result for item in client.messages.batches.results(batch.id)}
        direct = {f"r-{i}": client.messages.create(**params(p, model)) for i, p in enumerate(PROMPTS)}
        listed = [item.id for item in client.messages.batches.list(limit=10)]
        deleted = client.messages.batches.delete(batch.id)
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch.id)
    assert set(results) == set(direct)
    for custom_id, result in results.items():
        assert result.type == "succeeded"
        message, alone = result.message, direct[custom_id]
        assert [block.model_dump() for block in message.content] == [
            block.model_dump() for block in alone.content
        ]
        assert (
            message.usage.output_tokens == alone.usage.output_tokens
            and message.stop_reason == alone.stop_reason
        )
    assert listed == [batch.id] and deleted.id == batch.id and deleted.type == "message_batch_deleted"


def test_a_batch_on_the_simulator_answers_as_the_requests_sent_one_by_one(
    config: dict[str, Any], tmp_path: Path
) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        run_batch(live.base_url, key)
    rows = _ledger.rows(tmp_path / "g.db")
    assert len(rows) == 2 * len(PROMPTS)  # one per batch request, one per direct request
    assert all(row["status"] == 200 and row["key_id"] for row in rows)


def test_a_batch_on_an_openai_compatible_route(config: dict[str, Any], openai_upstream: str) -> None:
    config["models"] = [{"name": "*", "deployments": [{"provider": "openai", "base_url": openai_upstream}]}]
    with serve(config) as live:
        run_batch(live.base_url, new_key(live.base_url))


def test_a_key_over_budget_gets_its_requests_errored_not_run(config: dict[str, Any], tmp_path: Path) -> None:
    with serve(config) as live:
        key = new_key(live.base_url, budget={"cost_per_day": 0.0000001})
        assert _wire.messages(live.base_url, params("spend it"), {"x-api-key": key}).status == 200
        with anthropic.Anthropic(base_url=live.base_url, api_key=key, max_retries=0) as client:
            batch = ended(client, client.messages.batches.create(requests=batch_requests(PROMPTS[:2])).id)
            results = list(client.messages.batches.results(batch.id))
    assert batch.request_counts.errored == 2 and batch.request_counts.succeeded == 0
    for item in results:
        assert item.result.type == "errored"
        assert item.result.error.error.type == "rate_limit_error"
        assert "budget" in item.result.error.error.message
    statuses = sorted(row["status"] for row in _ledger.rows(tmp_path / "g.db"))
    assert statuses == [200, 429, 429]  # the direct call, then each refused batch request once


def test_another_key_cannot_see_read_cancel_or_delete_a_batch(config: dict[str, Any]) -> None:
    with serve(config) as live:
        alice, bob = new_key(live.base_url), new_key(live.base_url)
        with anthropic.Anthropic(base_url=live.base_url, api_key=alice, max_retries=0) as client:
            created = client.messages.batches.create(requests=batch_requests(["hi"]))
            ended(client, created.id)
        with anthropic.Anthropic(base_url=live.base_url, api_key=bob, max_retries=0) as client:
            for action in (
                client.messages.batches.retrieve,
                client.messages.batches.cancel,
                client.messages.batches.delete,
            ):
                with pytest.raises(anthropic.NotFoundError):
                    action(created.id)
            raw = _wire.call(
                live.base_url, "GET", f"/v1/messages/batches/{created.id}/results", None, {"x-api-key": bob}
            )
            assert client.messages.batches.list().data == []
    assert raw.status == 404 and raw.json()["error"]["type"] == "not_found_error"


def test_a_route_that_asks_for_it_hands_the_batch_to_the_upstreams_batch_api(
    config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CG_TEST_UPSTREAM_KEY", "sk-ant-upstream-batches-0123")
    simulator = create_simulator(SimulatorConfig(batch_delay=0.2, api_keys=("sk-ant-upstream-batches-0123",)))
    with LiveServer(simulator) as upstream:
        deployment = {
            "provider": "anthropic",
            "base_url": upstream.base_url,
            "api_key": "env:CG_TEST_UPSTREAM_KEY",
        }
        config["models"] = [{"name": "*", "deployments": [deployment], "batches": {"upstream": True}}]
        with serve(config) as live:
            key = new_key(live.base_url)
            with anthropic.Anthropic(base_url=live.base_url, api_key=key, max_retries=0) as client:
                created = client.messages.batches.create(requests=batch_requests(PROMPTS))
                held = simulator.simulator.batches.list(after_id=None, before_id=None, limit=5, base_url="")
                batch = ended(client, created.id)
                results = {item.custom_id: item.result for item in client.messages.batches.results(batch.id)}
                direct = {f"r-{i}": client.messages.create(**params(p)) for i, p in enumerate(PROMPTS)}
                again = client.messages.batches.retrieve(
                    batch.id
                )  # read again: its ledger rows are not written twice
                client.messages.batches.delete(batch.id)
            upstream_left = simulator.simulator.batches.list(
                after_id=None, before_id=None, limit=5, base_url=""
            )
    assert [item["id"] for item in held["data"]] != [created.id] and len(held["data"]) == 1  # its own id
    assert created.id.startswith("msgbatch_") and batch.request_counts.succeeded == len(PROMPTS)
    assert batch.results_url is not None and batch.results_url.startswith(live.base_url)
    assert again.ended_at == batch.ended_at
    for custom_id, result in results.items():
        assert result.type == "succeeded"
        assert [block.model_dump() for block in result.message.content] == [
            block.model_dump() for block in direct[custom_id].content
        ]
    assert upstream_left["data"] == []  # deleted upstream too
    rows = _ledger.rows(tmp_path / "g.db")
    handed = [row for row in rows if row["request_id"].startswith(created.id)]
    alone = [row for row in rows if not row["request_id"].startswith(created.id)]
    assert len(handed) == len(alone) == len(PROMPTS)
    assert sum(row["cost"] for row in handed) == pytest.approx(sum(row["cost"] for row in alone) / 2)


def test_the_cli_submits_waits_with_progress_and_prints_the_results(
    config: dict[str, Any], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from claudegate.cli import app

    file = tmp_path / "requests.jsonl"
    file.write_text("\n".join(json.dumps(item) for item in batch_requests(PROMPTS)) + "\n", encoding="utf-8")
    runner = CliRunner()
    with serve(config) as live:
        key = new_key(live.base_url)
        target = ["--url", live.base_url, "--key", key]
        waited = runner.invoke(app, ["batch", "submit", str(file), "--wait", "--interval", "0.05", *target])
        submitted = runner.invoke(app, ["batch", "submit", str(file), *target])
        with anthropic.Anthropic(base_url=live.base_url, api_key=key, max_retries=0) as client:
            ended(client, submitted.output.strip())
        fetched = runner.invoke(app, ["batch", "results", submitted.output.strip(), *target])
        refused = runner.invoke(app, ["batch", "results", "msgbatch_nope", *target])
    assert waited.exit_code == 0, waited.output
    results = [json.loads(line) for line in waited.stdout.splitlines() if line.startswith("{")]
    assert sorted(item["custom_id"] for item in results) == [f"r-{i}" for i in range(len(PROMPTS))]
    assert {item["result"]["type"] for item in results} == {"succeeded"}
    assert f"{len(PROMPTS)}/{len(PROMPTS)}" in waited.stderr and "succeeded 4" in waited.stderr
    assert submitted.exit_code == 0 and submitted.output.startswith("msgbatch_")
    assert fetched.exit_code == 0 and len(fetched.output.splitlines()) == len(PROMPTS)
    assert refused.exit_code == 1 and "404" in refused.output and key not in refused.output


def test_cancel_and_the_window_end_unfinished_requests_as_canceled_and_expired(
    config: dict[str, Any],
) -> None:
    config["batches"] = {"window": 0.5}
    with serve(config) as live:
        key = new_key(live.base_url)
        slow = {"x-sim-latency": "ttft=60"}
        with anthropic.Anthropic(
            base_url=live.base_url, api_key=key, max_retries=0, default_headers=slow
        ) as client:
            doomed = client.messages.batches.create(requests=batch_requests(PROMPTS[:2]))
            canceled = client.messages.batches.create(requests=batch_requests(PROMPTS))
            canceling = client.messages.batches.cancel(canceled.id)
            after_cancel = ended(client, canceled.id)
            expired = ended(client, doomed.id)
            canceled_results = list(client.messages.batches.results(canceled.id))
            expired_results = list(client.messages.batches.results(doomed.id))
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    assert after_cancel.processing_status == "ended" and after_cancel.request_counts.canceled == len(PROMPTS)
    assert {item.result.type for item in canceled_results} == {"canceled"}
    assert expired.processing_status == "ended" and expired.request_counts.expired == 2
    assert expired.ended_at is not None and expired.ended_at >= expired.expires_at
    assert {item.result.type for item in expired_results} == {"expired"}


def test_a_batch_left_unended_by_a_stopped_gateway_is_ended_by_the_next_one(
    config: dict[str, Any], tmp_path: Path
) -> None:
    database = tmp_path / "g.db"
    with serve(config) as live:
        key = new_key(live.base_url)
        with anthropic.Anthropic(base_url=live.base_url, api_key=key, max_retries=0) as client:
            batch = ended(client, client.messages.batches.create(requests=batch_requests(PROMPTS[:2])).id)
    with sqlite3.connect(database) as connection:  # as if the process had died right after the last job ended
        connection.execute("UPDATE cg_batches SET ended_at = NULL WHERE id = ?", (batch.id,))
    config["jobs"]["enabled"] = True  # the engine starts with the gateway
    with serve(config):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with sqlite3.connect(database) as connection:
                (value,) = connection.execute(
                    "SELECT ended_at FROM cg_batches WHERE id = ?", (batch.id,)
                ).fetchone()
            if value is not None:
                break
            time.sleep(0.02)
    assert value is not None  # ended without anyone reading it
