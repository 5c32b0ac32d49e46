"""``/graphql`` live: a cancelled ``messageStream`` cuts its upstream and settles one ledger row;
a page of jobs with their keys and ledger rows costs the same SQL statements for 1, 10 and 50;
``roomEvents`` on one gateway process receives a stream started over ``/v1/ws`` on another."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.gateway._graphql import (
    ADMIN,
    StatementCounter,
    execute,
    http_session,
    keyed_gateway,
    request,
    ws_session,
)
from tests.gateway._ledger import rows
from tests.gateway._process import gateway_process
from tests.gateway._simlog import cut_entry, ledgered_config
from tests.gateway._simlog import sim_upstream as sim_upstream  # a fixture
from tests.gateway._ws import ASK, open_session, serve_ws, stream, ws_url
from tests.gateway.conftest import serve, simulator_route
from tests.store.conftest import REDIS_URL, delete_prefixed_keys

WAIT = 30.0
LONG = {
    "model": "claude-sonnet-5",
    "maxTokens": 200,
    "messages": [{"role": "user", "content": " ".join(f"word{n}" for n in range(60))}],
}


async def test_a_cancelled_message_stream_cuts_the_upstream_and_settles_one_row(
    sim_upstream: str, tmp_path: Path
) -> None:
    db = tmp_path / "ledger.db"
    config = ledgered_config(sim_upstream, db)
    document = "subscription($input: MessageInput!) { messageStream(input: $input) { type text } }"
    seen = []
    with serve(config) as live:
        async with ws_session(live.base_url, None, headers={"x-sim-latency": "event=100ms"}) as session:
            async for item in session.subscribe(request(document, {"input": LONG})):
                seen.append(item["messageStream"]["type"])
                if len(seen) == 3:
                    break  # the client stops the subscription (graphql-transport-ws "complete")
            entry = await cut_entry(sim_upstream)
    assert seen[0] == "message_start" and entry["stream"] is True and entry["path"] == "/v1/messages"
    written = rows(db)  # the gateway has shut down: every row is written
    assert [(row["dialect"], row["status"], row["stream"]) for row in written] == [("graphql", 499, 1)]
    assert written[0]["input_tokens"] > 0


PAGE = """query($n: Int!) { jobs(first: $n) { edges { node { id status key { id name }
  ledger { requestId costUsd } } } } }"""


async def test_a_page_of_jobs_with_keys_and_ledger_costs_a_fixed_number_of_statements(tmp_path: Path) -> None:
    jobs = {"poll": 3600, "lease": 3600}  # no background look at the store while statements are counted
    with keyed_gateway(tmp_path / "store.db", jobs=jobs) as live:
        async with http_session(live.base_url, ADMIN) as admin:
            created, _ = await execute(admin, 'mutation { createKey(input: {name: "n1"}) { secret } }')
        assert created is not None
        async with http_session(live.base_url, created["createKey"]["secret"]) as session:
            job = {"request": {**LONG, "maxTokens": 5}}
            for _ in range(50):
                await execute(session, "mutation($j: JobInput!) { submitJob(input: $j) { id } }", {"j": job})
            deadline = time.monotonic() + WAIT
            while True:
                page, _ = await execute(session, PAGE, {"n": 50})
                assert page is not None
                nodes = [edge["node"] for edge in page["jobs"]["edges"]]
                if all(node["status"] == "succeeded" and node["ledger"] for node in nodes):
                    break
                assert time.monotonic() < deadline, "the jobs never ended"
                await asyncio.sleep(0.1)
            counts = {}
            for size in (1, 10, 50):
                with StatementCounter(live) as counter:
                    page, errors = await execute(session, PAGE, {"n": size})
                assert not errors and page is not None and len(page["jobs"]["edges"]) == size
                assert all(edge["node"]["key"]["name"] == "n1" for edge in page["jobs"]["edges"])
                counts[size] = counter.count
    assert counts[1] == counts[10] == counts[50] and 1 <= counts[1] <= 3, counts


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"cgtest{secrets.token_hex(6)}"
    yield prefix
    await delete_prefixed_keys(prefix)


async def test_room_events_on_another_process_receive_a_ws_stream(redis_prefix: str, tmp_path: Path) -> None:
    def config(name: str) -> dict[str, Any]:
        database = f"sqlite+aiosqlite:///{tmp_path / name}.db"
        storage = {"database_url": database, "redis_url": REDIS_URL, "redis_prefix": redis_prefix}
        return {"models": [simulator_route()], "storage": storage}

    document = """subscription { roomEvents(room: "review", since: "0") { id room type streamId data } }"""
    with serve_ws(config("a")) as here, gateway_process(config("b"), tmp_path) as there:
        async with connect(ws_url(here.base_url)) as author:
            await open_session(author)
            own = await stream(author, "s1", ASK, room="review")
        relayed = []
        async with ws_session(there, None) as session:
            async for item in session.subscribe(request(document)):
                relayed.append(item["roomEvents"])
                if item["roomEvents"]["type"] == "message.done":
                    break
    assert [message["type"] for message in relayed] == [message["type"] for message in own]
    assert all(message["room"] == "review" and message["streamId"] == "s1" for message in relayed)
    assert [message["data"].get("event") for message in relayed] == [message.get("event") for message in own]
    ids = [message["id"] for message in relayed]
    assert len(set(ids)) == len(ids)
