"""Events from the real NATS JetStream server on this machine: consumed by a durable consumer,
run through their pipelines, acknowledged once durably accepted; redelivery and a repeated
``Nats-Msg-Id`` run nothing twice; a message that is no event is terminated, not retried."""

from __future__ import annotations

import asyncio
import secrets
import signal
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nats
import orjson
import pytest
import yaml
from nats.js.api import StreamConfig
from sqlalchemy import select

from claudegate.gateway._config import NatsIngressConfig
from claudegate.gateway.core import GatewayError, Principal
from claudegate.gateway.events._nats import NatsIngress
from claudegate.store import Database
from tests.gateway import _event_tools, _wire
from tests.gateway.conftest import serve, simulator_route
from tests.gateway.test_events import ADMIN, new_key, settled
from tests.gateway.test_jobs_crash import postgres, started  # noqa: F401  (a fixture)

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
async def stream() -> AsyncIterator[tuple[Any, str, str]]:
    """A JetStream stream of this test's own (removed after it): (jetstream, stream, subject prefix)."""
    client = await nats.connect(NATS_URL)
    name = f"CGTEST_{secrets.token_hex(4).upper()}"
    prefix = f"cgtest.{name.lower()}"
    jetstream = client.jetstream()
    await jetstream.add_stream(StreamConfig(name=name, subjects=[f"{prefix}.>"]))
    try:
        yield jetstream, name, prefix
    finally:
        await jetstream.delete_stream(name)
        await client.close()


def _config(tmp_path: Path, name: str, prefix: str) -> dict[str, Any]:
    return {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "jobs": {"backoff": 0.01},
        "events": {
            "tool_modules": ["tests.gateway._event_tools"],
            "pipelines": [
                {
                    "name": "moderate",
                    "on": f"{prefix}.content.*",
                    "model": "claude-haiku-4-5",
                    "prompt": "Use check_policy_violations on: {{ payload.text }}",
                    "tools": ["check_policy_violations"],
                }
            ],
        },
    }


async def test_events_from_jetstream_are_processed_once_and_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: tuple[Any, str, str]
) -> None:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    jetstream, name, prefix = stream
    _event_tools.CALLS.clear()
    config = _config(tmp_path, name, prefix)
    with serve(config) as keyed:  # a first run only to create the key the consumer runs as
        key = await asyncio.to_thread(new_key, keyed.base_url)
    admin = {"authorization": f"Bearer {ADMIN}"}
    with serve(config) as keyed:
        keys = (await asyncio.to_thread(_wire.call, keyed.base_url, "GET", "/admin/keys", None, admin)).json()
    key_id = keys["data"][0]["id"]
    config["events"]["nats"] = {"stream": name, "subject": f"{prefix}.>", "durable": "gw", "key": key_id}
    subject = f"{prefix}.content.submitted"
    await jetstream.publish(subject, b'{"payload": {"text": "one"}}', headers={"Nats-Msg-Id": "n-1"})
    await jetstream.publish(subject, b'{"id": "n-2", "payload": {"text": "two"}}')
    await jetstream.publish(subject, b'{"id": "n-2", "payload": {"text": "two again"}}')
    await jetstream.publish(subject, b"not json")
    await jetstream.publish(f"{prefix}.content.updated", b'{"payload": {"text": "three"}}')
    acked: list[str] = []
    four = threading.Semaphore(0)
    original = NatsIngress._ack

    async def counted(self: NatsIngress, message: Any, event_id: str) -> None:
        await original(self, message, event_id)
        acked.append(event_id)
        four.release()

    monkeypatch.setattr(NatsIngress, "_ack", counted)
    with serve(config) as live:
        for _ in range(4):
            assert await asyncio.to_thread(four.acquire, True, 30)
        one = await asyncio.to_thread(settled, live.base_url, key, "n-1")
        two = await asyncio.to_thread(settled, live.base_url, key, "n-2")
        three = await asyncio.to_thread(settled, live.base_url, key, f"{name}-5")
    info = await jetstream.consumer_info(name, "gw")
    assert (one["status"], two["status"], three["status"]) == ("processed",) * 3
    assert one["type"] == subject and three["type"] == f"{prefix}.content.updated"
    assert sorted(acked) == sorted(["n-1", "n-2", "n-2", f"{name}-5"])
    assert len(_event_tools.CALLS) == 3  # n-2's second message is a duplicate: no second run
    assert info.num_ack_pending == 0 and info.num_pending == 0  # the bad one was terminated


async def test_without_a_key_events_run_as_nobody_until_keys_are_enforced() -> None:
    class Core:
        policies = None
        enforced = False

        async def principal(self, credential: str | None) -> Principal:
            if self.enforced:
                raise GatewayError(401, "authentication_error", "an API key is required")
            return Principal(None, None)

    core = Core()
    ingress = NatsIngress(SimpleNamespace(core=core), NatsIngressConfig(stream="S", subject="s.>"))  # type: ignore[arg-type]
    assert (await ingress._principal()).key is None
    core.enforced = True
    with pytest.raises(GatewayError) as refused:
        await ingress._principal()
    assert refused.value.status == 401


def _processed(url: str, event_id: str) -> dict[str, Any]:
    """The event once its runs ended (it may not be accepted yet: asked again until it is)."""
    for _ in range(300):
        reply = _wire.call(url, "GET", f"/v1/events/{event_id}?wait=40", timeout=60)
        if reply.status == 200:
            event: dict[str, Any] = reply.json()
            return event
        assert reply.status == 404, reply.body
        time.sleep(0.1)  # not accepted yet: the consumer fetches it in its next batch
    raise AssertionError(f"{event_id} was never accepted")


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The gateway's store: a SQLite file (the embedded job backend), or tables of this test's own
    on the real PostgreSQL (PgQueuer)."""
    if request.param == "sqlite":
        return {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"}
    stored: dict[str, Any] = request.getfixturevalue("postgres")[0]
    return stored


async def _accepted(storage: dict[str, Any]) -> tuple[set[str], list[str]]:
    """The ids of the events in the record, and the event of each run, as the store has them."""
    database = await Database.connect(
        storage["database_url"], table_prefix=storage.get("table_prefix", "cg_")
    )
    try:
        async with database.engine.connect() as connection:
            events = database.tables.events
            accepted = set((await connection.execute(select(events.c.id))).scalars())
            jobs = database.tables.jobs
            metadata = (await connection.execute(select(jobs.c.job_metadata))).scalars().all()
    finally:
        await database.close()
    return accepted, [item["event"]["id"] for item in metadata]


async def _results(jetstream: Any, name: str, prefix: str, count: int) -> tuple[list[dict[str, Any]], int]:
    """The first ``count`` result events on the egress subject (waited for), and how many messages
    the stream holds there."""
    reader = await jetstream.pull_subscribe(f"{prefix}.out.>", durable="counter", stream=name)
    found: list[dict[str, Any]] = []
    while len(found) < count:
        for message in await reader.fetch(count - len(found), timeout=30):
            await message.ack()
            found.append(orjson.loads(message.data))
    info = await jetstream.stream_info(name, subjects_filter=f"{prefix}.out.>")
    return found, sum((info.state.subjects or {}).values())


async def test_a_kill_of_the_gateway_loses_no_event_and_no_result_and_duplicates_neither(
    tmp_path: Path, storage: dict[str, Any]
) -> None:
    """300 events from JetStream (150 there at start, 150 published while the gateway is down), the
    gateway killed with SIGKILL mid-run: every message it had acknowledged has its event in the
    record; after a restart every event is processed by one run, and its result event is on the
    egress subject exactly once — also the ones whose run ended before the kill but whose result
    had not reached NATS (the egress subject has no stream until then: they wait in the outbox)."""
    client = await nats.connect(NATS_URL)
    name = f"CGKILL_{secrets.token_hex(4).upper()}"
    prefix = f"cgkill.{name.lower()}"
    jetstream = client.jetstream()
    config = StreamConfig(name=name, subjects=[f"{prefix}.in.>"], duplicate_window=600.0)
    await jetstream.add_stream(config)
    try:
        await _kill_and_recover(tmp_path, storage, jetstream, config, prefix)
    finally:
        await jetstream.delete_stream(name)
        await client.close()


async def _kill_and_recover(
    tmp_path: Path, storage: dict[str, Any], jetstream: Any, stream: StreamConfig, prefix: str
) -> None:
    name = str(stream.name)
    slow = {"provider": "simulator", "simulator": {"time_to_first_token": 0.05}}
    config = {
        "models": [{"name": "*", "deployments": [slow]}],
        "storage": storage,
        "jobs": {
            "enabled": True,
            "workers": 8,
            "lease": 1.0,
            "heartbeat": 0.25,
            "poll": 0.2,
            "backoff": 0.05,
        },
        "events": {
            "nats": {
                "stream": name,
                "subject": f"{prefix}.in.>",
                "durable": "gw",
                "batch": 10,
                "ack_wait": 2,
                "emit_prefix": f"{prefix}.out",
            },
            "pipelines": [
                {"name": "p", "on": f"{prefix}.in.*", "model": "claude-haiku-4-5", "prompt": "{{ id }}"}
            ],
        },
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    ids = [f"e-{n}" for n in range(300)]
    sequence: dict[int, str] = {}

    async def publish(items: list[str]) -> None:
        for event_id in items:
            ack = await jetstream.publish(f"{prefix}.in.item", orjson.dumps({"id": event_id}))
            sequence[ack.seq] = event_id

    await publish(ids[:150])
    with started(path, tmp_path) as (process, url):
        assert (await asyncio.to_thread(_processed, url, "e-29"))["status"] == "processed"  # under way
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)
    info = await jetstream.consumer_info(name, "gw")
    accepted, _ = await _accepted(storage)
    acknowledged = {event_id for seq, event_id in sequence.items() if seq <= info.ack_floor.stream_seq}
    assert acknowledged <= accepted  # acknowledged only once durably accepted
    await publish(ids[150:])
    stream.subjects = [f"{prefix}.in.>", f"{prefix}.out.>"]  # from now on, result events are kept
    await jetstream.update_stream(stream)
    with started(path, tmp_path) as (_, url):
        events = [await asyncio.to_thread(_processed, url, event_id) for event_id in ids]
        results, stored = await _results(jetstream, name, prefix, len(ids))  # the outbox swept at start
    info = await jetstream.consumer_info(name, "gw")
    accepted, runs = await _accepted(storage)
    assert [event["status"] for event in events] == ["processed"] * len(ids)
    assert sorted(runs) == sorted(ids)  # one run each
    assert sorted(result["event_id"] for result in results) == sorted(ids) and stored == len(ids)
    assert {result["id"] for result in results} == {event["result"]["id"] for event in events}
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_result_events_are_published_back_to_jetstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: tuple[Any, str, str]
) -> None:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    jetstream, name, prefix = stream
    config = _config(tmp_path, name, prefix)
    config["auth"] = None  # an open gateway: the events run as nobody in particular
    config["events"]["pipelines"][0]["on"] = f"{prefix}.in.content.*"
    config["events"]["pipelines"][0]["emit"] = "content.moderated"
    nats_config = {
        "stream": name,
        "subject": f"{prefix}.in.>",
        "durable": "gw",
        "emit_prefix": f"{prefix}.out",
    }
    config["events"]["nats"] = nats_config
    await jetstream.publish(f"{prefix}.in.content.submitted", b'{"id": "r-1", "payload": {"text": "hi"}}')
    results = await jetstream.pull_subscribe(f"{prefix}.out.>", durable="reader", stream=name)
    with serve(config) as live:
        assert (await asyncio.to_thread(_processed, live.base_url, "r-1"))["status"] == "processed"
        (message,) = await results.fetch(1, timeout=30)
    await message.ack()
    result = orjson.loads(message.data)
    assert message.subject == f"{prefix}.out.content.moderated"
    assert result["event_id"] == "r-1" and result["pipeline"] == "moderate"
    assert message.headers is not None and message.headers["Nats-Msg-Id"] == result["id"]
