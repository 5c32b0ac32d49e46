"""``/v1/events``: events in (one or a list, idempotent by id, only for a key), each matched
pipeline run through the core on the job engine with its tools, the result event read back; runs
whose tool keeps failing are dead-lettered after ``jobs.max_attempts``, listed and replayed once."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from websockets.asyncio.client import connect

from claudegate.store import Database
from tests.gateway import _event_tools, _ledger, _wire
from tests.gateway._graphql import request, ws_session
from tests.gateway._receiver import receiver
from tests.gateway._ws import open_session, receive, receive_type, ws_url
from tests.gateway._ws import send as ws_send
from tests.gateway.conftest import serve, simulator_route
from tests.gateway.test_jobs_crash import postgres  # noqa: F401  (the fixture)

ADMIN = "admin-secret-for-events-tests-0123456789"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    return {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "jobs": {"backoff": 0.01, "max_attempts": 2},
        "events": {
            "tool_modules": ["tests.gateway._event_tools"],
            "pipelines": [
                {
                    "name": "moderate",
                    "on": "content.*",
                    "model": "claude-haiku-4-5",
                    "prompt": "Use check_policy_violations on: {{ payload.text }}",
                    "tools": ["check_policy_violations"],
                    "emit": "content.moderated",
                },
                {
                    "name": "investigate",
                    "on": "anomaly.detected",
                    "model": "claude-haiku-4-5",
                    "prompt": "Call lookup_account for account {{ payload.account }}",
                    "tools": ["lookup_account"],
                    "priority": "high",
                },
            ],
        },
    }


@pytest.fixture(autouse=True)
def tools() -> Iterator[None]:
    _event_tools.CALLS.clear()
    _event_tools.LOOKUPS.clear()
    _event_tools.DOWN[0] = True
    yield
    _event_tools.DOWN[0] = True


def new_key(base_url: str) -> str:
    reply = _wire.call(base_url, "POST", "/admin/keys", {"name": "e"}, {"authorization": f"Bearer {ADMIN}"})
    assert reply.status == 201, reply.body
    key: str = reply.json()["key"]
    return key


def post(base_url: str, key: str | None, body: Any) -> _wire.Reply:
    return _wire.call(base_url, "POST", "/v1/events", body, {"x-api-key": key} if key else {})


def settled(base_url: str, key: str, event_id: str) -> dict[str, Any]:
    reply = _wire.call(base_url, "GET", f"/v1/events/{event_id}?wait=30", None, {"x-api-key": key})
    assert reply.status == 200, reply.body
    event: dict[str, Any] = reply.json()
    return event


def test_an_event_runs_its_pipeline_with_tools_and_emits_a_result(
    config: dict[str, Any], tmp_path: Path
) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        reply = post(
            live.base_url, key, {"type": "content.submitted", "id": "c-1", "payload": {"text": "hi"}}
        )
        assert reply.status == 202, reply.body
        assert reply.json() == {"data": [{"id": "c-1", "pipelines": ["moderate"], "duplicate": False}]}
        event = settled(live.base_url, key, "c-1")
    assert event["status"] == "processed" and event["type"] == "content.submitted"
    (run,) = event["runs"]
    assert run["pipeline"] == "moderate" and run["status"] == "processed" and run["attempts"] == 1
    result = event["result"]
    assert result["type"] == "content.moderated" and result["event_id"] == "c-1"
    assert result["pipeline"] == "moderate" and result["output"]
    (call,) = result["tool_calls"]
    assert call["name"] == "check_policy_violations" and call["output"] == "no violation"
    assert len(_event_tools.CALLS) == 1
    assert result["usage"]["requests"] == 2 and result["usage"]["output_tokens"] > 0
    assert result["cost"] > 0 and result["latency_ms"] >= 0
    assert len(_ledger.rows(tmp_path / "g.db")) == 2  # one ledger row per model turn


def test_events_are_idempotent_by_id_and_a_list_is_accepted(config: dict[str, Any]) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        first = post(live.base_url, key, {"type": "content.submitted", "id": "c-2", "payload": {"text": "a"}})
        many = post(
            live.base_url,
            key,
            {
                "events": [
                    {"type": "content.submitted", "id": "c-2", "payload": {"text": "a"}},
                    {"type": "user.clicked", "id": "u-1", "payload": {}},
                    {"type": "content.updated", "payload": {"text": "b"}},
                ]
            },
        )
        assert first.status == 202 and many.status == 202, many.body
        data = many.json()["data"]
        assert data[0] == {"id": "c-2", "pipelines": ["moderate"], "duplicate": True}
        assert data[1] == {"id": "u-1", "pipelines": [], "duplicate": False}
        assert data[2]["id"].startswith("ev_") and data[2]["pipelines"] == ["moderate"]
        once = settled(live.base_url, key, "c-2")
        unmatched = settled(live.base_url, key, "u-1")
        made = settled(live.base_url, key, data[2]["id"])
    assert len(once["runs"]) == 1 and once["status"] == "processed"
    assert unmatched["status"] == "processed" and unmatched["runs"] == [] and unmatched["results"] == []
    assert made["status"] == "processed"
    assert len(_event_tools.CALLS) == 2  # c-2 once, and the third event


def test_events_need_a_key_and_a_key_sees_only_its_own(config: dict[str, Any]) -> None:
    with serve(config) as live:
        alice, bob = new_key(live.base_url), new_key(live.base_url)
        anonymous = post(live.base_url, None, {"type": "user.clicked"})
        post(live.base_url, alice, {"type": "user.clicked", "id": "mine"})
        theirs = _wire.call(live.base_url, "GET", "/v1/events/mine", None, {"x-api-key": bob})
        own = _wire.call(live.base_url, "GET", "/v1/events/mine", None, {"x-api-key": alice})
        jobs = _wire.call(live.base_url, "GET", "/v1/jobs", None, {"x-api-key": alice}).json()
    assert anonymous.status == 401
    assert theirs.status == 404 and theirs.json()["error"]["type"] == "not_found_error"
    assert own.status == 200
    assert jobs["data"] == []  # an event's runs are not the key's jobs


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payload": {}}, "type"),
        ({"type": "a", "priority": "urgent"}, "priority"),
        ({"type": "a", "priority": {"x": 1}}, "priority"),
        ({"type": "a", "colour": "red"}, "colour"),
        ({"events": [{"type": "a"}, {"type": 7}]}, "events[1].type"),
        ({"events": [{"type": "a", "id": "x"}, {"type": "b", "id": "x"}]}, "events[1].id"),
        ({"events": []}, "events"),
        ({"type": "a", "id": "a/b"}, "id"),
        ({"type": "a", "id": "dead"}, "id"),
        ({"type": "content.submitted", "payload": {"body": "no text field"}}, "payload"),
    ],
)
def test_bad_events_are_refused_naming_the_field(
    config: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        reply = post(live.base_url, key, body)
    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith(field + ":")


def test_a_failing_tool_dead_letters_the_event_and_replay_runs_it_once(config: dict[str, Any]) -> None:
    dead_letter_and_replay(config)


async def test_dead_letters_and_replay_on_postgresql_with_pgqueuer(
    config: dict[str, Any],
    postgres: tuple[dict[str, Any], Database],  # noqa: F811  (the fixture imported above)
) -> None:
    config["storage"] = postgres[0]
    config["jobs"]["backend"] = "pgqueuer"
    await asyncio.to_thread(dead_letter_and_replay, config)


def dead_letter_and_replay(config: dict[str, Any]) -> None:
    """A run whose tool keeps failing is dead after ``jobs.max_attempts`` (2); replay runs it once."""
    with serve(config) as live:
        key = new_key(live.base_url)
        auth = {"x-api-key": key}
        post(live.base_url, key, {"type": "anomaly.detected", "id": "a-1", "payload": {"account": "acme"}})
        dead = settled(live.base_url, key, "a-1")
        listed = _wire.call(live.base_url, "GET", "/v1/events/dead", None, auth).json()
        _event_tools.DOWN[0] = False
        replayed = _wire.call(live.base_url, "POST", "/v1/events/dead/replay", {}, auth)
        again = _wire.call(live.base_url, "POST", "/v1/events/dead/replay", {"event_ids": ["a-1"]}, auth)
        processed = settled(live.base_url, key, "a-1")
        after = _wire.call(live.base_url, "GET", "/v1/events/dead", None, auth).json()
    assert dead["status"] == "dead" and dead["result"] is None
    (run,) = dead["runs"]
    assert run["attempts"] == 2 and run["priority"] == "high"
    assert "lookup_account failed: the account backend is down" in run["error"]["message"]
    assert [(item["event_id"], item["pipeline"]) for item in listed["data"]] == [("a-1", "investigate")]
    assert replayed.status == 202 and [item["event_id"] for item in replayed.json()["data"]] == ["a-1"]
    assert again.json()["data"] == []  # already queued: replayed once
    assert processed["status"] == "processed"
    assert processed["result"]["tool_calls"][0]["output"].endswith(": in good standing")
    assert len(_event_tools.LOOKUPS) == 3  # two failed attempts, one after the replay
    assert after["data"] == []


def test_the_cli_lists_and_replays_dead_runs(config: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from claudegate.cli import app

    runner = CliRunner()
    with serve(config) as live:
        key = new_key(live.base_url)
        for event_id in ("a-2", "a-3"):
            post(
                live.base_url, key, {"type": "anomaly.detected", "id": event_id, "payload": {"account": "x"}}
            )
            assert settled(live.base_url, key, event_id)["status"] == "dead"
        target = ["--url", live.base_url, "--key", key]
        listed = runner.invoke(app, ["events", "dead", *target])
        _event_tools.DOWN[0] = False
        replayed = runner.invoke(app, ["events", "replay", "a-3", *target, "--json"])
        processed = settled(live.base_url, key, "a-3")
        still = settled(live.base_url, key, "a-2")
        unauthorized = runner.invoke(app, ["events", "replay", "--url", live.base_url, "--key", "nope"])
    assert listed.exit_code == 0 and "a-2" in listed.output and "a-3" in listed.output
    assert replayed.exit_code == 0 and [run["event_id"] for run in json.loads(replayed.output)] == ["a-3"]
    assert processed["status"] == "processed" and still["status"] == "dead"
    assert unauthorized.exit_code == 1 and "401" in unauthorized.output


def test_a_pipeline_added_in_python_runs_with_its_tool_objects(config: dict[str, Any]) -> None:
    from claudegate.gateway.events import Pipeline

    with serve(config) as live:
        live.app.events.pipelines.add(
            Pipeline(
                on=("order.placed",),
                model="claude-haiku-4-5",
                prompt="Use check_policy_violations on order {{ payload.order }}",
                tools=(_event_tools.check_policy_violations,),
                priority="low",
                name="orders",
            )
        )
        key = new_key(live.base_url)
        accepted = post(live.base_url, key, {"type": "order.placed", "id": "o-1", "payload": {"order": 7}})
        event = settled(live.base_url, key, "o-1")
    assert accepted.json()["data"][0]["pipelines"] == ["orders"]
    assert event["status"] == "processed" and event["runs"][0]["priority"] == "low"
    assert event["result"]["type"] == "order.placed.processed"
    assert [call["name"] for call in event["result"]["tool_calls"]] == ["check_policy_violations"]


def test_high_priority_events_go_first_and_low_ones_are_not_starved(config: dict[str, Any]) -> None:
    config["jobs"]["workers"] = 1
    model = "claude-haiku-4-5"
    config["events"]["pipelines"] = [
        {
            "name": "gate",
            "on": "gate",
            "model": model,
            "prompt": "Use hold",
            "tools": ["hold"],
            "priority": "high",
        },
        {"name": "alerts", "on": "alert.*", "model": model, "prompt": "{{ id }}", "priority": "high"},
        {"name": "clicks", "on": "click.*", "model": model, "prompt": "{{ id }}", "priority": "low"},
    ]
    _event_tools.GATE.clear()
    try:
        with serve(config) as live:
            key = new_key(live.base_url)
            post(live.base_url, key, {"type": "gate", "id": "gate"})  # holds the only worker
            lows = [{"type": "click.made", "id": f"low-{n}"} for n in range(12)]
            highs = [{"type": "alert.raised", "id": f"high-{n}"} for n in range(36)]
            assert post(live.base_url, key, {"events": lows + highs}).status == 202
            _event_tools.GATE.set()
            events = [settled(live.base_url, key, item["id"]) for item in [{"id": "gate"}, *lows, *highs]]
    finally:
        _event_tools.GATE.set()
    assert {event["status"] for event in events} == {"processed"}
    started = {event["id"]: datetime.fromisoformat(event["runs"][0]["started_at"]) for event in events[1:]}
    order = sorted(started, key=lambda event_id: started[event_id])
    assert order[0].startswith("high-"), order  # queued after every low one, run before them
    low_positions = [index + 1 for index, event_id in enumerate(order) if event_id.startswith("low-")]
    # high 6 : low 1 while both wait: the n-th low event starts within the first 7·n
    assert all(position <= 7 * number for number, position in enumerate(low_positions, 1)), order
    assert sum(event_id.startswith("low-") for event_id in order[:42]) == 6  # not before its turn


async def test_result_events_go_to_the_pipelines_room_and_its_signed_webhook(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "whsec_" + base64.b64encode(b"events-test-webhook-secret-01").decode()
    monkeypatch.setenv("CG_TEST_WEBHOOK_SECRET", secret)
    config["webhooks"] = {"secret": "env:CG_TEST_WEBHOOK_SECRET", "allow_private": ["127.0.0.0/8"]}
    config["jobs"]["enabled"] = True
    async with receiver() as hooks:
        config["events"]["pipelines"][0].update(webhook=hooks.url(), room="moderation")
        with serve(config) as live:
            key = await asyncio.to_thread(new_key, live.base_url)
            engine = live.app.jobs.engine_if_open
            assert engine is not None
            attempts = threading.Semaphore(0)
            engine.deliveries.on_attempt = lambda _: attempts.release()
            async with connect(ws_url(live.base_url), additional_headers={"x-api-key": key}) as member:
                await open_session(member)
                await ws_send(member, {"type": "room.join", "room": "moderation"})
                assert (await receive(member))["type"] == "room.joined"
                body = {"type": "content.submitted", "id": "c-9", "payload": {"text": "hi"}}
                assert (await asyncio.to_thread(post, live.base_url, key, body)).status == 202
                relayed = await receive_type(member, "event.result")
            assert await asyncio.to_thread(attempts.acquire, True, 30)
    assert relayed["room"] == "moderation"
    assert relayed["event"]["type"] == "content.moderated" and relayed["event"]["event_id"] == "c-9"
    (delivered,) = hooks.received
    payload = Webhook(secret).verify(delivered.body, delivered.headers)
    assert payload["type"] == "job.succeeded"
    assert payload["data"]["result"] == relayed["event"]


def test_a_pipeline_webhook_nothing_can_sign_refuses_its_events(config: dict[str, Any]) -> None:
    config["events"]["pipelines"][0]["webhook"] = "http://127.0.0.1:9/hooks"
    with serve(config) as live:
        key = new_key(live.base_url)
        reply = post(live.base_url, key, {"type": "content.submitted", "payload": {"text": "x"}})
    assert reply.status == 400 and "webhook" in reply.json()["error"]["message"]


def test_an_id_a_concurrent_publish_took_is_a_duplicate_and_the_rest_is_accepted(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        assert (
            post(
                live.base_url, key, {"type": "content.submitted", "id": "c-r", "payload": {"text": "a"}}
            ).status
            == 202
        )

        async def unseen(*_: Any) -> dict[str, tuple[str, ...]]:
            return {}  # as if the other publish committed after this one looked

        monkeypatch.setattr(live.app.events, "_known", unseen)
        events = [
            {"type": "content.submitted", "id": "c-r", "payload": {"text": "a"}},
            {"type": "content.submitted", "id": "c-s", "payload": {"text": "b"}},
        ]
        reply = post(live.base_url, key, {"events": events})
        first, second = settled(live.base_url, key, "c-r"), settled(live.base_url, key, "c-s")
    assert [(item["id"], item["duplicate"]) for item in reply.json()["data"]] == [
        ("c-r", True),
        ("c-s", False),
    ]
    assert len(first["runs"]) == 1 and first["status"] == "processed" and second["status"] == "processed"
    assert len(_event_tools.CALLS) == 2


def test_metrics_count_runs_by_pipeline_priority_and_outcome(config: dict[str, Any]) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        post(live.base_url, key, {"type": "content.submitted", "id": "m-1", "payload": {"text": "a"}})
        post(live.base_url, key, {"type": "anomaly.detected", "id": "m-2", "payload": {"account": "b"}})
        assert settled(live.base_url, key, "m-1")["status"] == "processed"
        assert settled(live.base_url, key, "m-2")["status"] == "dead"
        text = _wire.call(
            live.base_url, "GET", "/metrics", None, {"authorization": f"Bearer {ADMIN}"}
        ).body.decode()
    lines = set(text.splitlines())
    assert 'claudegate_events_accepted_total{pipeline="moderate",priority="medium"} 1.0' in lines
    assert 'claudegate_events_accepted_total{pipeline="investigate",priority="high"} 1.0' in lines
    assert (
        'claudegate_event_runs_total{outcome="processed",pipeline="moderate",priority="medium"} 1.0' in lines
    )
    assert 'claudegate_event_runs_total{outcome="failed",pipeline="investigate",priority="high"} 1.0' in lines
    assert 'claudegate_event_runs_total{outcome="dead",pipeline="investigate",priority="high"} 1.0' in lines
    assert 'claudegate_event_queue_wait_seconds_count{pipeline="moderate",priority="medium"} 1.0' in lines
    assert 'claudegate_event_queue_wait_seconds_count{pipeline="investigate",priority="high"} 1.0' in lines


async def test_a_graphql_room_subscription_receives_result_events(config: dict[str, Any]) -> None:
    config["events"]["pipelines"][0]["room"] = "moderation"
    document = 'subscription { roomEvents(room: "moderation", since: "0") { room type data } }'
    with serve(config) as live:
        key = await asyncio.to_thread(new_key, live.base_url)
        body = {"type": "content.submitted", "id": "g-1", "payload": {"text": "hi"}}
        assert (await asyncio.to_thread(post, live.base_url, key, body)).status == 202
        assert (await asyncio.to_thread(settled, live.base_url, key, "g-1"))["status"] == "processed"
        async with ws_session(live.base_url, key) as session:
            async for item in session.subscribe(request(document)):  # since 0: the room's history
                relayed = item["roomEvents"]
                break
    assert relayed["room"] == "moderation" and relayed["type"] == "event.result"
    assert relayed["data"]["event"]["event_id"] == "g-1"
    assert relayed["data"]["event"]["type"] == "content.moderated"
