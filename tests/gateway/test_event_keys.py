"""An event's runs run as the key that published it, read when each run starts (several runs
starting together read their keys in one query): a key revoked while its events wait fails them,
and the events of another key still run."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudegate.gateway.jobs import Job
from tests.gateway import _event_tools, _wire
from tests.gateway.conftest import serve, simulator_route
from tests.gateway.test_events import ADMIN, post, settled

WORKERS = 4


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    model = "claude-haiku-4-5"
    return {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "jobs": {"enabled": True, "workers": WORKERS, "max_attempts": 1},
        "events": {
            "tool_modules": ["tests.gateway._event_tools"],
            "pipelines": [
                {"name": "gate", "on": "gate", "model": model, "prompt": "Use hold", "tools": ["hold"]},
                {"name": "clicks", "on": "click.*", "model": model, "prompt": "{{ id }}"},
            ],
        },
    }


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    _event_tools.GATE.clear()
    yield _event_tools.GATE
    _event_tools.GATE.set()


def _admin(base_url: str, method: str, path: str, body: Any = None) -> _wire.Reply:
    return _wire.call(base_url, method, path, body, {"authorization": f"Bearer {ADMIN}"})


def test_a_key_revoked_while_its_events_wait_fails_them_and_other_keys_run(
    config: dict[str, Any], gate: threading.Event, tmp_path: Path
) -> None:
    gates = threading.Semaphore(0)

    def observe(job: Job) -> None:
        if job.status == "running" and (job.metadata or {}).get("pipeline") == "gate":
            gates.release()

    with serve(config) as live:
        engine = live.app.jobs.engine_if_open
        assert engine is not None
        engine.observers.append(observe)
        alice, bob = (_admin(live.base_url, "POST", "/admin/keys", {"name": name}).json() for name in "ab")
        gates_held = [{"type": "gate", "id": f"gate-{n}"} for n in range(WORKERS)]
        assert post(live.base_url, bob["key"], {"events": gates_held}).status == 202
        for _ in range(WORKERS):
            assert gates.acquire(timeout=30)
        for key, owner in ((alice["key"], "a"), (bob["key"], "b")):
            events = [{"type": "click.made", "id": f"{owner}-{n}"} for n in range(3)]
            assert post(live.base_url, key, {"events": events}).status == 202
        assert _admin(live.base_url, "DELETE", f"/admin/keys/{alice['id']}").status == 200
        gate.set()
        processed = [settled(live.base_url, bob["key"], f"b-{n}")["status"] for n in range(3)]
    connection = sqlite3.connect(tmp_path / "g.db")
    try:
        rows = connection.execute("SELECT job_metadata, status, error FROM cg_jobs").fetchall()
    finally:
        connection.close()
    runs = {orjson.loads(metadata)["event"]["id"]: (status, error) for metadata, status, error in rows}
    assert processed == ["processed"] * 3
    for n in range(3):
        status, error = runs[f"a-{n}"]
        assert status == "failed" and "revoked" in orjson.loads(error)["body"]["error"]["message"]
