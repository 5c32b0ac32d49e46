"""Rooms on ``/v1/ws``: every member receives a room stream's messages in order, a late joiner
replays from an event id; in memory on one replica, and through the real Redis across two."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from claudegate.gateway.core import MemoryRoomHub, RoomEvent, RoomHub, RoomSubscription
from claudegate.gateway.core._redis_rooms import RedisRoomHub
from tests.gateway._process import gateway_process
from tests.gateway._ws import (
    ASK,
    WAIT,
    open_session,
    receive,
    send,
    serve_ws,
    stream,
    until_room_done,
    ws_url,
)
from tests.gateway.conftest import Live, simulator_route
from tests.store.conftest import REDIS_URL, delete_prefixed_keys

QUESTION = {
    **ASK,
    "messages": [{"role": "user", "content": "let us review this plan together, step by step"}],
}


async def join(ws: ClientConnection, room: str, since: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "room.join", "room": room, "event_id": "j1"}
    if since is not None:
        message["since"] = since
    await send(ws, message)
    joined = await receive(ws)
    assert joined["type"] == "room.joined" and joined["room"] == room and joined["client_event_id"] == "j1"
    return joined


async def check_room(author_url: str, member_url: str, late_url: str, backend: str) -> None:
    """One stream in a room: its author's own messages, a member's copies, a late joiner's replay."""
    async with connect(author_url) as author, connect(member_url) as member:
        session = await open_session(author)
        await open_session(member)
        await join(member, "review")
        await join(author, "review")  # an author in its own room gets its messages once
        own = await stream(author, "s1", QUESTION, room="review")
        copies = await until_room_done(member, "s1")
        await send(author, {"type": "ping", "event_id": "p"})
        assert (await receive(author))["type"] == "pong", "the author got its own messages twice"
    assert session["capabilities"]["rooms"]["backend"] == backend
    strip = ("event_id", "origin")
    assert [{k: v for k, v in m.items() if k not in strip} for m in copies] == [
        {k: v for k, v in m.items() if k not in strip} for m in own
    ]
    assert all(m["room"] == "review" and m["origin"] == copies[0]["origin"] for m in copies)
    assert own[-1]["type"] == "message.done" and own[-1]["room"] == "review"
    ids = [m["event_id"] for m in copies]
    assert len(set(ids)) == len(ids)
    async with connect(late_url) as late:
        await open_session(late)
        await join(late, "review", since=ids[2])
        replayed = await until_room_done(late, "s1")
    assert replayed == copies[3:]


async def test_room_members_on_one_replica_receive_the_stream_and_a_late_joiner_replays() -> None:
    with serve_ws() as live:
        url = ws_url(live.base_url)
        await check_room(url, url, url, "memory")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards (never FLUSHALL)."""
    prefix = f"cgtest{secrets.token_hex(6)}"
    yield prefix
    await delete_prefixed_keys(prefix)


@pytest.fixture
def replicas(redis_prefix: str, tmp_path: Path) -> Iterator[tuple[Live, Live]]:
    """Two gateways (two apps, two ports) sharing the real Redis under this test's prefix."""
    with ExitStack() as stack:
        lives = []
        for name in ("a", "b"):
            config = {
                "models": [simulator_route()],
                "storage": {
                    "database_url": f"sqlite+aiosqlite:///{tmp_path / name}.db",
                    "redis_url": REDIS_URL,
                    "redis_prefix": redis_prefix,
                },
            }
            lives.append(stack.enter_context(serve_ws(config)))
        yield lives[0], lives[1]


async def test_a_member_on_another_replica_receives_the_stream_through_redis_in_order(
    replicas: tuple[Live, Live],
) -> None:
    first, second = (ws_url(live.base_url) for live in replicas)
    await check_room(first, second, first, "redis")


async def test_a_member_connected_to_another_gateway_process_receives_the_stream(
    redis_prefix: str, tmp_path: Path
) -> None:
    def config(name: str) -> dict[str, Any]:
        database = f"sqlite+aiosqlite:///{tmp_path / name}.db"
        storage = {"database_url": database, "redis_url": REDIS_URL, "redis_prefix": redis_prefix}
        return {"models": [simulator_route()], "storage": storage}

    with serve_ws(config("a")) as here, gateway_process(config("b"), tmp_path) as there:
        author, member = ws_url(here.base_url), ws_url(there)
        await check_room(author, member, member, "redis")


async def test_redis_room_ids_replay_across_replicas(replicas: tuple[Live, Live]) -> None:
    first, second = (ws_url(live.base_url) for live in replicas)
    async with connect(first) as author:
        await open_session(author)
        own = await stream(author, "s1", QUESTION, room="history")
        again = await stream(author, "s2", ASK, room="history")
    async with connect(second) as late:
        await open_session(late)
        await join(late, "history", since="0")
        replayed = await until_room_done(late, "s1") + await until_room_done(late, "s2")
    assert [m["type"] for m in replayed] == [m["type"] for m in own + again]
    assert [m["event_id"] for m in replayed] == sorted(
        (m["event_id"] for m in replayed), key=lambda i: tuple(map(int, i.split("-")))
    )


@pytest.fixture(params=["memory", "redis"])
async def hub(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[RoomHub]:
    """The same hub contract in memory and on the real Redis (under this test's prefix)."""
    backend: RoomHub
    if request.param == "memory":
        backend = MemoryRoomHub(history=5)
    else:
        backend = RedisRoomHub(REDIS_URL, prefix=redis_prefix, history=5)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


async def take(subscription: RoomSubscription, count: int) -> list[RoomEvent]:
    return [await asyncio.wait_for(anext(subscription), WAIT) for _ in range(count)]


async def test_a_hub_delivers_in_order_and_replays_its_bounded_history_after_an_id(hub: RoomHub) -> None:
    live = await hub.subscribe("owner/r")
    elsewhere = await hub.subscribe("owner/other")
    ids = await hub.publish("owner/r", [{"type": "t", "n": n} for n in range(8)])
    got = await take(live, 8)
    late = await hub.subscribe("owner/r", since=ids[4])
    await hub.publish("owner/r", [{"type": "t", "n": 8}])
    replayed = await take(late, 4)
    everything = await hub.subscribe("owner/r", since="0")
    retained = await take(everything, 5)
    await hub.publish("owner/other", [{"type": "t", "n": "x"}])
    other = await take(elsewhere, 1)
    for subscription in (live, late, everything, elsewhere):
        subscription.close()
    assert [event.id for event in got] == ids and [event.data["n"] for event in got] == list(range(8))
    assert [event.data["n"] for event in replayed] == [5, 6, 7, 8]
    assert [event.data["n"] for event in retained] == [4, 5, 6, 7, 8]  # the history keeps 5
    assert [event.data["n"] for event in other] == ["x"]
    assert hub.valid_id(ids[0]) and hub.valid_id("0") and not hub.valid_id("yesterday")


async def test_a_member_that_falls_behind_is_dropped_with_the_last_id_it_received() -> None:
    hub = MemoryRoomHub(history=10, buffer=3)
    member = await hub.subscribe("owner/r")
    await hub.publish("owner/r", [{"type": "t", "n": n} for n in range(2)])
    first = await take(member, 1)
    await hub.publish("owner/r", [{"type": "t", "n": n} for n in range(2, 6)])  # 1 waiting + 4 > 3
    rest = [event async for event in member]
    rejoined = await hub.subscribe("owner/r", since=member.last_id)
    caught_up = await take(rejoined, 5)
    assert member.lagged and [event.data["n"] for event in first] == [0] and rest == []
    assert [event.data["n"] for event in caught_up] == [1, 2, 3, 4, 5]


async def test_when_the_pubsub_connection_breaks_members_are_told_and_catch_up_by_rejoining(
    redis_prefix: str,
) -> None:
    name = f"{redis_prefix}-rooms"
    hub = RedisRoomHub(REDIS_URL, prefix=redis_prefix, client_name=name)
    await hub.start()
    admin = Redis.from_url(REDIS_URL)
    try:
        member = await hub.subscribe("owner/r")
        ids = await hub.publish("owner/r", [{"type": "t", "n": n} for n in range(2)])
        seen = await take(member, 2)
        clients = await admin.client_list()
        ours = [c["id"] for c in clients if c.get("name") == name and int(c.get("sub", 0)) > 0]
        assert len(ours) == 1, clients
        await admin.client_kill_filter(_id=ours[0])  # only this test's own subscriber connection
        rest = await asyncio.wait_for(_drain(member), WAIT)
        await hub.publish("owner/r", [{"type": "t", "n": 2}])
        rejoined = await hub.subscribe("owner/r", since=member.last_id)
        caught_up = await take(rejoined, 1)
        await hub.publish("owner/r", [{"type": "t", "n": 3}])
        live = await take(rejoined, 1)
        rejoined.close()
    finally:
        await admin.aclose()
        await hub.close()
    assert [event.id for event in seen] == ids and rest == [] and member.lagged
    assert member.last_id == ids[1]
    assert [event.data["n"] for event in caught_up + live] == [2, 3]


async def _drain(subscription: RoomSubscription) -> list[RoomEvent]:
    return [event async for event in subscription]
