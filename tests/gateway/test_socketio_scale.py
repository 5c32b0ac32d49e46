"""``/socket.io/`` across two gateway processes on the real Redis: a member connected to one
receives a room stream started on the other (python-socketio's Redis manager carries presence, the
room hub the stream), and a member whose connection drops mid-stream reconnects — to the other
replica — within the recovery window, resumes its room and is sent exactly the events it missed."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.gateway._process import gateway_process
from tests.gateway._sio import Client, connected, events
from tests.gateway._ws import ASK, WAIT
from tests.gateway.conftest import simulator_route
from tests.gateway.test_socketio import LONG, serve_sio
from tests.store.conftest import REDIS_URL, delete_prefixed_keys


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards (never FLUSHALL)."""
    prefix = f"cgtest{secrets.token_hex(6)}"
    yield prefix
    await delete_prefixed_keys(prefix)


def replica_config(name: str, prefix: str, folder: Path) -> dict[str, Any]:
    database = f"sqlite+aiosqlite:///{folder / name}.db"
    storage = {"database_url": database, "redis_url": REDIS_URL, "redis_prefix": prefix}
    return {"models": [simulator_route()], "storage": storage}


async def test_a_member_on_another_process_receives_the_room_stream_and_its_presence(
    redis_prefix: str, tmp_path: Path
) -> None:
    with (
        serve_sio(replica_config("a", redis_prefix, tmp_path)) as here,
        gateway_process(replica_config("b", redis_prefix, tmp_path), tmp_path) as there,
    ):
        async with connected(here.base_url) as author, connected(there) as member:
            await member.call("join-room", {"room": "review"})
            await author.call("join-room", {"room": "review"})
            joined = await member.next("user-joined")
            await author.call("message.create", {"stream_id": "s1", "request": ASK, "room": "review"})
            own = await author.until_done("s1")
            copies = await member.until_done("s1")
            author_sid = author.sio.get_sid()
    assert joined == ("user-joined", {"room": "review", "sid": author_sid})
    assert events(copies) == events(own) and len(events(own)) > 3
    assert copies[-1][0] == "message.done" and copies[-1][1]["stop_reason"] == "end_turn"
    ids = [data["event_id"] for _, data in copies]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))


async def kept(prefix: str, session_id: str) -> None:
    """Until the replica the member left has kept its session (it noticed the drop)."""
    redis = Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + WAIT
    try:
        while not await redis.exists(f"{prefix}:sio:session:{session_id}"):
            assert time.monotonic() < deadline, "the dropped session was never kept"
            await asyncio.sleep(0.02)  # polling Redis, not synchronising
    finally:
        await redis.aclose()


async def test_a_member_that_drops_and_reconnects_elsewhere_gets_the_events_it_missed(
    redis_prefix: str, tmp_path: Path
) -> None:
    with (
        serve_sio(replica_config("a", redis_prefix, tmp_path)) as here,
        gateway_process(replica_config("b", redis_prefix, tmp_path), tmp_path) as there,
    ):
        async with connected(here.base_url) as author:
            member = Client(reconnection=False)
            try:
                session = await member.connect(there)
                await member.call("join-room", {"room": "live"})
                slow = {
                    "stream_id": "s1",
                    "request": LONG,
                    "room": "live",
                    "headers": {"x-sim-latency": "event=30ms"},
                }
                await author.call("message.create", slow)
                before = [await member.next("message.event") for _ in range(4)]
                await member.sio.eio.ws.close()  # the network drops: no goodbye
                await kept(redis_prefix, session["session_id"])
            finally:
                await member.close()
            missed_some = not author.events.empty()
            auth = {"session_id": session["session_id"], "offsets": {"live": before[-1][1]["event_id"]}}
            back = Client(reconnection=False)
            try:
                resumed = await back.connect(here.base_url, auth)
                after = await back.until_done("s1")
            finally:
                await back.close()
            own = await author.until_done("s1")
    assert missed_some
    assert resumed["recovered"] is True and resumed["rooms"] == ["live"]
    assert resumed["session_id"] == session["session_id"]
    assert events(before + after) == events(own)
    assert after[-1][0] == "message.done" and after[-1][1]["room"] == "live"
    ids = [data["event_id"] for _, data in before + after]
    assert len(set(ids)) == len(ids)


async def test_a_session_is_resumed_once_and_only_by_its_owner(redis_prefix: str, tmp_path: Path) -> None:
    with serve_sio(replica_config("a", redis_prefix, tmp_path)) as gateway:
        first = Client(reconnection=False)
        try:
            session = await first.connect(gateway.base_url)
            await first.call("join-room", {"room": "r"})
            await first.sio.eio.ws.close()
            await kept(redis_prefix, session["session_id"])
        finally:
            await first.close()
        auth = {"session_id": session["session_id"]}
        async with connected(gateway.base_url, auth) as again:
            resumed = await again.call("join-room", {"room": "r"})
        async with connected(gateway.base_url, auth) as late:
            assert late.events.empty()
    assert resumed["param"] == "room" and "already a member" in resumed["error"]["message"]
