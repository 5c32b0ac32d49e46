"""``/v1/jobs``: submit → 202 and a status URL, the job runs through the core (ledger, budgets,
errors), the caller reads, lists and cancels only its own jobs."""

from __future__ import annotations

import asyncio
import base64
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from standardwebhooks import Webhook

from claudegate.gateway.jobs import Job
from tests.gateway import _ledger, _wire
from tests.gateway._receiver import receiver
from tests.gateway.conftest import serve, simulator_route

ADMIN = "admin-secret-for-jobs-tests-0123456789"
ASK = {"model": "claude-sonnet-5", "max_tokens": 30, "messages": [{"role": "user", "content": "hello there"}]}
CHAT = {"model": "claude-sonnet-5", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    return {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "jobs": {"backoff": 0.01},
    }


def new_key(base_url: str, **fields: Any) -> str:
    reply = _wire.call(
        base_url, "POST", "/admin/keys", {"name": "j", **fields}, {"authorization": f"Bearer {ADMIN}"}
    )
    assert reply.status == 201, reply.body
    key: str = reply.json()["key"]
    return key


def submit(base_url: str, key: str, body: dict[str, Any], extra: dict[str, str] | None = None) -> _wire.Reply:
    return _wire.call(base_url, "POST", "/v1/jobs", body, {"x-api-key": key, **(extra or {})})


def running_engine(live: Any, key: str) -> Any:
    """The gateway's job engine, opened by a first job (run to its end) so that a test can watch
    the engine before the job it is about happens."""
    wait(live.base_url, key, submit(live.base_url, key, {"request": ASK}).json()["id"])
    engine = live.app.jobs.engine_if_open
    assert engine is not None
    return engine


def wait(base_url: str, key: str, job_id: str) -> dict[str, Any]:
    reply = _wire.call(base_url, "GET", f"/v1/jobs/{job_id}?wait=30", None, {"x-api-key": key})
    assert reply.status == 200, reply.body
    job: dict[str, Any] = reply.json()
    assert job["status"] in ("succeeded", "failed", "canceled"), job
    return job


def test_a_job_is_accepted_then_answered_like_a_direct_call(config: dict[str, Any], tmp_path: Path) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        report = _wire.call(live.base_url, "GET", "/admin/usage", None, {"authorization": f"Bearer {ADMIN}"})
        assert report.status == 200  # the rollups exist before the job's row is written
        body = {"request": ASK, "metadata": {"ticket": "T-1"}, "priority": "high"}
        reply = submit(live.base_url, key, body)
        assert reply.status == 202, reply.body
        accepted = reply.json()
        assert accepted["status"] == "queued" and accepted["id"].startswith("job_")
        assert reply.headers["location"] == accepted["status_url"]
        assert accepted["status_url"].endswith(f"/v1/jobs/{accepted['id']}")
        job = wait(live.base_url, key, accepted["id"])
        direct = _wire.messages(live.base_url, ASK, {"x-api-key": key}).json()
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert job["metadata"] == {"ticket": "T-1"} and job["priority"] == "high"
    assert job["result"]["type"] == "message" and job["result"]["content"] == direct["content"]
    assert job["usage"]["output_tokens"] == direct["usage"]["output_tokens"] and job["cost"] > 0
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    rows = _ledger.rows(tmp_path / "g.db")
    assert len(rows) == 2  # the job's request and the direct one: one row each
    assert sum(1 for row in rows if row["request_id"].startswith("req_" + accepted["id"][4:])) == 1
    assert _ledger.rolled_up(tmp_path / "g.db") == [2, 2, 2, 2]  # the job's row is in the rollups too


def test_an_openai_job_answers_a_chat_completion(config: dict[str, Any]) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        reply = submit(live.base_url, key, {"request": CHAT, "dialect": "openai"})
        assert reply.status == 202
        job = wait(live.base_url, key, reply.json()["id"])
    assert job["status"] == "succeeded"
    assert job["result"]["object"] == "chat.completion"
    assert job["result"]["choices"][0]["message"]["role"] == "assistant"


def test_bad_submissions_name_the_field_in_the_callers_dialect(config: dict[str, Any]) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        missing = submit(live.base_url, key, {"request": {"model": "m", "messages": []}})
        openai = submit(live.base_url, key, {"request": {"messages": []}, "dialect": "openai"})
        priority = submit(live.base_url, key, {"request": ASK, "priority": "urgent"})
        hook = submit(live.base_url, key, {"request": ASK, "webhook": {"url": "ftp://x"}})
        streamed = submit(live.base_url, key, {"request": {**ASK, "stream": True}})
    assert missing.status == 400
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "request.max_tokens" in missing.json()["error"]["message"]
    assert openai.status == 400 and openai.json()["error"]["param"] == "request.model"  # OpenAI's envelope
    assert "priority" in priority.json()["error"]["message"]
    assert "webhook.url" in hook.json()["error"]["message"]
    assert "request.stream" in streamed.json()["error"]["message"]


def test_a_key_sees_only_its_own_jobs(config: dict[str, Any]) -> None:
    with serve(config) as live:
        alice, bob = new_key(live.base_url), new_key(live.base_url)
        ids = [submit(live.base_url, alice, {"request": ASK}).json()["id"] for _ in range(3)]
        theirs = _wire.call(live.base_url, "GET", f"/v1/jobs/{ids[0]}", None, {"x-api-key": bob})
        cancel = _wire.call(live.base_url, "DELETE", f"/v1/jobs/{ids[0]}", None, {"x-api-key": bob})
        bobs = _wire.call(live.base_url, "GET", "/v1/jobs", None, {"x-api-key": bob}).json()
        first = _wire.call(live.base_url, "GET", "/v1/jobs?limit=2", None, {"x-api-key": alice}).json()
        path = f"/v1/jobs?limit=2&after_id={first['last_id']}"
        second = _wire.call(live.base_url, "GET", path, None, {"x-api-key": alice})
        odd = [
            _wire.call(live.base_url, "GET", f"/v1/jobs?limit={quote(limit)}", None, {"x-api-key": alice})
            for limit in ("²", "0", "101", "x")
        ]
    assert [reply.status for reply in odd] == [400] * 4  # "²" passes str.isdigit, not int()
    assert all(reply.json()["error"]["message"].startswith("limit:") for reply in odd)
    assert theirs.status == 404 and cancel.status == 404
    assert bobs["data"] == [] and bobs["has_more"] is False
    assert first["has_more"] is True and len(first["data"]) == 2
    listed = [job["id"] for job in first["data"]] + [job["id"] for job in second.json()["data"]]
    assert sorted(listed) == sorted(ids) and second.json()["has_more"] is False


def test_a_key_over_budget_gets_its_job_failed_not_run(config: dict[str, Any], tmp_path: Path) -> None:
    with serve(config) as live:
        key = new_key(live.base_url, budget={"cost_per_day": 0.0000001})
        assert _wire.messages(live.base_url, ASK, {"x-api-key": key}).status == 200  # spends the budget
        job = wait(live.base_url, key, submit(live.base_url, key, {"request": ASK}).json()["id"])
    assert job["status"] == "failed" and job["attempts"] == 1  # not retried
    assert job["error_status"] == 429 and "budget" in job["error"]["error"]["message"]
    statuses = sorted(row["status"] for row in _ledger.rows(tmp_path / "g.db"))
    assert statuses == [200, 429]


def observe(live: Any, status: str) -> tuple[threading.Event, list[str]]:
    """An event set once a job of this gateway reaches ``status`` (the engine's own notice)."""
    reached, ids = threading.Event(), []

    def seen(job: Job) -> None:
        if job.status == status:
            ids.append(job.id)
            reached.set()

    engine = live.app.jobs.engine_if_open
    assert engine is not None
    engine.observers.append(seen)
    return reached, ids


def test_an_upstream_overload_is_retried_and_a_client_error_is_not(
    config: dict[str, Any], tmp_path: Path
) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        overloaded = _wire.call(
            live.base_url,
            "POST",
            "/v1/jobs",
            {"request": ASK},
            {"x-api-key": key, "x-sim-fault": "529;times=2"},
        )
        refused = _wire.call(
            live.base_url, "POST", "/v1/jobs", {"request": ASK}, {"x-api-key": key, "x-sim-fault": "400"}
        )
        retried = wait(live.base_url, key, overloaded.json()["id"])
        failed = wait(live.base_url, key, refused.json()["id"])
    assert retried["status"] == "succeeded" and retried["attempts"] == 3
    assert failed["status"] == "failed" and failed["attempts"] == 1 and failed["error_status"] == 400
    statuses = sorted(row["status"] for row in _ledger.rows(tmp_path / "g.db"))
    assert statuses == [200, 400, 529, 529]  # one row per executed request


def test_canceling_a_running_job_cancels_its_upstream_call(config: dict[str, Any], tmp_path: Path) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        queued = submit(live.base_url, key, {"request": ASK}).json()  # opens the engine
        wait(live.base_url, key, queued["id"])
        running, _ = observe(live, "running")
        slow = _wire.call(
            live.base_url,
            "POST",
            "/v1/jobs",
            {"request": ASK},
            {"x-api-key": key, "x-sim-latency": "ttft=60"},
        ).json()
        assert running.wait(30)
        canceled = _wire.call(live.base_url, "DELETE", f"/v1/jobs/{slow['id']}", None, {"x-api-key": key})
        engine = live.app.jobs.engine_if_open
        assert engine is not None
        again = _wire.call(live.base_url, "GET", f"/v1/jobs/{slow['id']}", None, {"x-api-key": key}).json()
    assert canceled.status == 200 and canceled.json()["status"] == "canceled"
    assert again["status"] == "canceled" and again["finished_at"] is not None
    assert slow["id"] not in engine.running
    statuses = sorted(row["status"] for row in _ledger.rows(tmp_path / "g.db"))
    assert statuses == [200, 499]  # the canceled call was cut short (and recorded once)


def test_the_cli_lists_shows_and_cancels_a_keys_jobs(config: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from claudegate.cli import app

    runner = CliRunner()
    with serve(config) as live:
        key = new_key(live.base_url)
        done = submit(live.base_url, key, {"request": ASK}).json()["id"]
        wait(live.base_url, key, done)
        slow = submit(live.base_url, key, {"request": ASK}, {"x-sim-latency": "ttft=60"}).json()["id"]
        target = ["--url", live.base_url, "--key", key]
        listed = runner.invoke(app, ["jobs", "list", *target])
        shown = runner.invoke(app, ["jobs", "show", done, *target])
        canceled = runner.invoke(app, ["jobs", "cancel", slow, *target])
        unknown = runner.invoke(app, ["jobs", "show", "job_nope", *target])
    assert listed.exit_code == 0 and done in listed.output and slow in listed.output
    assert shown.exit_code == 0 and '"status": "succeeded"' in shown.output
    assert canceled.exit_code == 0 and f"{slow}: canceled" in canceled.output
    assert unknown.exit_code == 1 and "404" in unknown.output and key not in unknown.output


async def test_a_jobs_webhook_is_logged_and_can_be_redelivered(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "whsec_" + base64.b64encode(b"jobs-test-webhook-secret-0123").decode()
    monkeypatch.setenv("CG_TEST_WEBHOOK_SECRET", secret)
    config["webhooks"] = {"secret": "env:CG_TEST_WEBHOOK_SECRET", "allow_private": ["127.0.0.0/8"]}
    async with receiver() as hooks:
        with serve(config) as live:
            key = await asyncio.to_thread(new_key, live.base_url)
            engine = await asyncio.to_thread(running_engine, live, key)
            attempts = threading.Semaphore(0)
            engine.deliveries.on_attempt = lambda _: attempts.release()
            body = {"request": ASK, "webhook": {"url": hooks.url()}}
            job_id = (await asyncio.to_thread(submit, live.base_url, key, body)).json()["id"]
            assert await asyncio.to_thread(attempts.acquire, True, 30)
            path = f"/v1/jobs/{job_id}/deliveries"
            log = await asyncio.to_thread(_wire.call, live.base_url, "GET", path, None, {"x-api-key": key})
            again = await asyncio.to_thread(_wire.call, live.base_url, "POST", path, None, {"x-api-key": key})
            assert await asyncio.to_thread(attempts.acquire, True, 30)
            after = await asyncio.to_thread(_wire.call, live.base_url, "GET", path, None, {"x-api-key": key})
    (delivery,) = log.json()["data"]
    assert delivery["event_type"] == "job.succeeded" and delivery["status"] == "delivered"
    assert delivery["log"][0]["status"] == 204 and delivery["log"][0]["outcome"] == "delivered"
    assert again.status == 202
    assert [entry["outcome"] for entry in after.json()["data"][0]["log"]] == ["delivered", "delivered"]
    ids = {received.headers["webhook-id"] for received in hooks.received}
    assert ids == {delivery["webhook_id"]} and len(hooks.received) == 2
    for received in hooks.received:
        payload = Webhook(secret).verify(received.body, received.headers)
        assert payload["type"] == "job.succeeded" and payload["data"]["id"] == job_id
        assert payload["data"]["result"]["type"] == "message"


def test_a_webhook_the_guard_refuses_or_none_can_sign_is_a_400(config: dict[str, Any]) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        private = submit(live.base_url, key, {"request": ASK, "webhook": {"url": "http://10.0.0.1/h"}})
        unsigned = submit(live.base_url, key, {"request": ASK, "webhook": {"url": "https://example.com/h"}})
    assert private.status == 400 and "webhook.url" in private.json()["error"]["message"]
    assert unsigned.status == 400 and "secret" in unsigned.json()["error"]["message"]


async def test_webhook_retries_keep_the_schedule_and_a_410_disables_the_endpoint(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver that fails twice gets the third attempt, each no sooner than the schedule says
    (timestamps taken by the receiver: lower bounds, whatever the machine's load), all under one
    webhook-id; a 410 disables the endpoint, so a later job's delivery sends nothing."""
    secret = "whsec_" + base64.b64encode(b"jobs-test-webhook-secret-0123").decode()
    monkeypatch.setenv("CG_TEST_WEBHOOK_SECRET", secret)
    schedule = [0.0, 0.3, 0.6]
    config["webhooks"] = {
        "secret": "env:CG_TEST_WEBHOOK_SECRET",
        "allow_private": ["127.0.0.0/8"],
        "schedule": schedule,
    }
    async with receiver() as hooks:
        hooks.status = 500
        with serve(config) as live:
            key = await asyncio.to_thread(new_key, live.base_url)
            engine = await asyncio.to_thread(running_engine, live, key)
            attempts = threading.Semaphore(0)
            made = [0]

            def attempted(_: object) -> None:
                made[0] += 1
                if made[0] == 2:
                    hooks.status = 204  # the third attempt succeeds
                attempts.release()

            engine.deliveries.on_attempt = attempted
            body = {"request": ASK, "webhook": {"url": hooks.url()}}
            first = (await asyncio.to_thread(submit, live.base_url, key, body)).json()["id"]
            for _ in range(3):
                assert await asyncio.to_thread(attempts.acquire, True, 30)
            path = f"/v1/jobs/{first}/deliveries"
            auth = {"x-api-key": key}
            retried = await asyncio.to_thread(_wire.call, live.base_url, "GET", path, None, auth)

            hooks.status = 410
            gone = (await asyncio.to_thread(submit, live.base_url, key, body)).json()["id"]
            assert await asyncio.to_thread(attempts.acquire, True, 30)
            later = (await asyncio.to_thread(submit, live.base_url, key, body)).json()["id"]
            assert await asyncio.to_thread(attempts.acquire, True, 30)
            logs = [
                await asyncio.to_thread(
                    _wire.call, live.base_url, "GET", f"/v1/jobs/{job}/deliveries", None, {"x-api-key": key}
                )
                for job in (gone, later)
            ]
    (delivery,) = retried.json()["data"]
    assert [entry["outcome"] for entry in delivery["log"]] == ["failed", "failed", "delivered"]
    assert delivery["status"] == "delivered"
    first_three = hooks.received[:3]
    assert {received.headers["webhook-id"] for received in first_three} == {delivery["webhook_id"]}
    times = [received.at for received in first_three]
    assert times[1] - times[0] >= schedule[1] - 0.01 and times[2] - times[1] >= schedule[2] - 0.01
    for received in first_three:
        Webhook(secret).verify(received.body, received.headers)
    gone_log, later_log = (reply.json()["data"][0] for reply in logs)
    assert [entry["outcome"] for entry in gone_log["log"]] == ["disabled"]
    assert later_log["status"] == "disabled" and [e["outcome"] for e in later_log["log"]] == ["disabled"]
    assert len(hooks.received) == 4  # three for the first job, one 410; nothing for the last job
