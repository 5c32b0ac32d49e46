"""The real npm ``socket.io-client`` (Node) on ``/socket.io/``: it connects with a key, streams the
events of the SSE answer, cancels a stream mid-way (the simulator's log shows the cut), receives a
room stream another member requested, and gets ``connect_error`` saying why for a bad key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson

from tests.conformance._node import REPO_ROOT, node_executable, node_package
from tests.gateway import _wire
from tests.gateway._simlog import sim_upstream
from tests.gateway._ws import ASK, WAIT
from tests.gateway.test_socketio import LONG, serve_sio, upstream_config
from tests.gateway.test_websocket_auth import issue_keys

__all__ = ["sim_upstream"]  # a fixture shared with the WebSocket tests

SCRIPT = Path(__file__).with_name("socketio_client.mjs")


async def upstream_log(sim_url: str, count: int) -> list[dict[str, Any]]:
    """The simulator's log once it holds ``count`` requests, each finished or noticed cut."""
    deadline = time.monotonic() + WAIT
    while True:
        entries: list[dict[str, Any]] = orjson.loads(_wire.call(sim_url, "GET", "/_sim/log").body)["data"]
        if len(entries) == count and entries[1]["disconnected"]:
            return entries
        assert time.monotonic() < deadline, f"the slow stream was never cut: {entries}"
        await asyncio.sleep(0.02)  # polling the simulator's log, not synchronising


async def run_script(script: Path, env: dict[str, str]) -> str:
    """What a Node script wrote to its standard output (it must exit 0)."""
    completed = await asyncio.to_thread(
        subprocess.run,
        [node_executable(), str(script)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def events(seen: list[list[Any]]) -> list[dict[str, Any]]:
    return [data["event"] for name, data in seen if name == "message.event"]


async def test_the_npm_client_streams_cancels_shares_a_room_and_is_refused_a_bad_key(
    sim_upstream: str, tmp_path: Path
) -> None:
    node_package("socket.io-client")
    db = tmp_path / "gateway.db"
    key, _, _ = await issue_keys(db)
    config = {**upstream_config(sim_upstream, db), "auth": {"cache_seconds": 0}}
    with serve_sio(config) as server:
        env = {
            **os.environ,
            "GATEWAY_URL": server.base_url,
            "GATEWAY_KEY": key,
            "ASK": orjson.dumps(ASK).decode(),
            "LONG": orjson.dumps(LONG).decode(),
        }
        output = await run_script(SCRIPT, env)
        log = await upstream_log(sim_upstream, 3)
        sse = _wire.messages(server.base_url, {**ASK, "stream": True}, headers={"x-api-key": key})
    seen = orjson.loads(output)
    expected = _wire.anthropic_events(sse.body)
    assert seen["session"]["authenticated"] is True and seen["ack"] == {"stream_id": "s1"}
    assert events(seen["stream"]) == expected
    assert seen["stream"][-1][0] == "message.done" and seen["stream"][-1][1]["stop_reason"] == "end_turn"
    assert seen["cancelAck"] == {"stream_id": "slow", "cancelled": True}
    last, done = seen["cancelled"][-1]
    assert last == "message.done" and done["cancelled"] is True and done["status"] == 499
    assert len(events(seen["cancelled"])) < 20
    assert [entry["disconnected"] for entry in log] == [False, True, False]  # s1, slow (cut), r1
    assert seen["memberJoin"] == {"room": "review"}
    assert seen["userJoined"] == {"room": "review", "sid": seen["authorId"]}
    assert events(seen["roomCopies"]) == events(seen["roomOwn"]) == expected
    assert all(data["room"] == "review" for _, data in seen["roomCopies"])
    assert seen["refused"] == {
        "message": "authentication_error: invalid or revoked API key",
        "data": {"type": "authentication_error", "message": "invalid or revoked API key", "status": 401},
    }
