"""Socket.IO with JWT principals: the python-socketio and npm ``socket.io-client`` clients present a
token from a local identity provider in the handshake and stream under its subject (the ledger row
says so); an expired token, one for another audience or one signed by an unknown key gets a
``connect_error`` saying why; subjects share rooms when their tokens name the same tenant
(``auth.jwt.claims.rooms``) and never otherwise."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import socketio
from websockets.asyncio.client import ClientConnection, connect

from claudegate.testing import LiveServer
from tests.conformance._node import node_package
from tests.gateway import _ledger, _wire
from tests.gateway._idp import IdentityProvider, claims, ec_key, rsa_key
from tests.gateway._sio import Client, connected, events
from tests.gateway._ws import ASK, WAIT, open_session, receive, until_room_done, ws_url
from tests.gateway._ws import send as ws_send
from tests.gateway._ws import stream as ws_stream
from tests.gateway.conftest import serve
from tests.gateway.test_jwt import Gateway, issue_key, jwt_config
from tests.gateway.test_socketio_node import run_script

NODE_SCRIPT = Path(__file__).with_name("socketio_jwt_client.mjs")


@asynccontextmanager
async def jwt_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """A gateway admitting the provider's tokens (the ``tenant`` claim names whose rooms a subject
    shares) and a gateway key; its ledger is complete once it stops."""
    idp = IdentityProvider()
    idp.add(rsa_key("rsa-1"))
    idp.add(ec_key("ec-1"))
    idp.add(rsa_key("ghost"), publish=False)  # signs tokens whose kid the key set does not have
    db = tmp_path / "gateway.db"
    key = await asyncio.to_thread(issue_key, db)
    with LiveServer(idp) as provider:
        config = jwt_config(provider.base_url, db, claims={"rooms": "tenant"})
        with serve(config) as live:
            yield Gateway(live, idp, db, key)


def bad_tokens(idp: IdentityProvider) -> dict[str, str]:
    """Each bad token, and what its ``connect_error`` says."""
    return {
        "the token has expired": idp.token("rsa-1", claims(exp=1_000_000, iat=999_000)),
        "audience (aud) is not accepted": idp.token("ec-1", {**claims(), "aud": "someone-else"}),
        "no RS256 signing key 'ghost' among the issuer's keys": idp.token("ghost"),
        "the 'tenant' claim must be a string of 1 to 255 characters": idp.token("rsa-1", claims(tenant=42)),
    }


def sse_events(gateway: Gateway, token: str) -> list[dict[str, Any]]:
    reply = _wire.messages(gateway.url, {**ASK, "stream": True}, headers={"x-api-key": token})
    assert reply.status == 200, reply.body
    return _wire.anthropic_events(reply.body)


async def test_a_python_client_streams_with_a_token_under_its_subject(tmp_path: Path) -> None:
    async with jwt_gateway(tmp_path) as gateway:
        token = gateway.idp.token("ec-1", claims("sio-alice"))
        async with connected(gateway.url, {"token": token}) as client:
            session = client.session
            ack = await client.call("message.create", {"stream_id": "s1", "request": ASK})
            seen = await client.until_done("s1")
        expected = await asyncio.to_thread(sse_events, gateway, token)
    assert ack == {"stream_id": "s1"} and session["authenticated"] is True
    assert events(seen) == expected
    assert seen[-1][0] == "message.done" and seen[-1][1]["status"] == 200
    rows = _ledger.rows(gateway.db)
    assert sorted((row["dialect"], row["key_id"]) for row in rows) == [
        ("anthropic", "jwt:sio-alice"),
        ("socketio", "jwt:sio-alice"),
    ]


async def test_bad_tokens_get_a_connect_error_saying_why(tmp_path: Path) -> None:
    async with jwt_gateway(tmp_path) as gateway:
        refusals = {why: await refusal(gateway.url, token) for why, token in bad_tokens(gateway.idp).items()}
    for why, refused in refusals.items():
        assert refused["data"] == {
            "type": "authentication_error",
            "message": f"invalid JWT: {why}",
            "status": 401,
        }, why
        assert refused["message"] == f"authentication_error: invalid JWT: {why}"
    assert _ledger.rows(gateway.db) == []


async def refusal(url: str, token: str) -> Any:
    """The ``connect_error`` of a handshake presenting ``token`` (no event arrives before it)."""
    client = Client(reconnection=False)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.sio.connect(url, auth={"token": token}, wait_timeout=WAIT)
        refused = await asyncio.wait_for(client.refusals.get(), WAIT)
        assert client.events.empty()
    finally:
        await client.close()
    assert token.rsplit(".", 1)[0] not in orjson.dumps(refused).decode()  # the token is not echoed
    return refused


async def first_room_stream(member: Client) -> str:
    """The stream id of the first room event ``member`` receives (a replay comes before live events)."""
    while True:
        _, data = await member.next()
        if isinstance(data, dict) and "room" in data and "stream_id" in data:
            stream_id: str = data["stream_id"]
            return stream_id


async def test_subjects_of_one_tenant_share_a_room_and_nobody_else_sees_it(tmp_path: Path) -> None:
    room = {"room": "review"}
    async with jwt_gateway(tmp_path) as gateway:
        idp, url = gateway.idp, gateway.url

        def token(subject: str, tenant: str | None) -> dict[str, str]:
            extra = {"tenant": tenant} if tenant is not None else {}
            return {"token": idp.token("rsa-1", claims(subject, **extra))}

        async with (
            connected(url, token("alice", "acme")) as alice,
            connected(url, token("bob", "acme")) as bob,
        ):
            assert await bob.call("join-room", room) == room
            assert await alice.call("join-room", room) == room
            joined = await bob.next("user-joined")
            alice_sid = alice.sio.get_sid()
            await alice.call("message.create", {"stream_id": "s1", "request": ASK, **room})
            own = await alice.until_done("s1")
            copies = await bob.until_done("s1")
        # The room now holds s1. Outsiders join the same name from its start ("0" replays what the
        # room retained); each pair's first room event is its own pair's stream, never s1.
        outsiders = {
            "another tenant": (token("carol", "globex"), token("cathy", "globex")),
            "no tenant claim": (token("dave", None), token("dave", None)),
            "a gateway key": ({"token": gateway.key}, {"token": gateway.key}),
        }
        firsts = {}
        for case, (author_auth, member_auth) in outsiders.items():
            async with connected(url, author_auth) as author, connected(url, member_auth) as member:
                await member.call("join-room", {**room, "since": "0"})
                await author.call("join-room", room)
                await author.call("message.create", {"stream_id": "s2", "request": ASK, **room})
                firsts[case] = await first_room_stream(member)
                await author.until_done("s2")
    assert joined == ("user-joined", {"room": "review", "sid": alice_sid})
    assert events(copies) == events(own) and copies[-1][0] == "message.done"
    assert all(data["room"] == "review" for _, data in copies)
    assert firsts == dict.fromkeys(outsiders, "s2")
    payers = [row["key_id"] for row in _ledger.rows(gateway.db) if row["key_id"] in ("jwt:alice", "jwt:bob")]
    assert payers == ["jwt:alice"]  # the requester's call; a member only watches


async def test_the_npm_client_streams_with_a_token_and_is_refused_bad_ones(tmp_path: Path) -> None:
    node_package("socket.io-client")
    async with jwt_gateway(tmp_path) as gateway:
        token = gateway.idp.token("rsa-1", claims("node-user"))
        bad = bad_tokens(gateway.idp)
        seen = await run_node(gateway.url, token, list(bad.values()))
        expected = await asyncio.to_thread(sse_events, gateway, token)
    assert seen["session"]["authenticated"] is True and seen["ack"] == {"stream_id": "s1"}
    assert [data["event"] for name, data in seen["stream"] if name == "message.event"] == expected
    assert seen["stream"][-1][0] == "message.done"
    assert seen["refused"] == [
        {
            "message": f"authentication_error: invalid JWT: {why}",
            "data": {"type": "authentication_error", "message": f"invalid JWT: {why}", "status": 401},
        }
        for why in bad
    ]
    assert [row["key_id"] for row in _ledger.rows(gateway.db) if row["dialect"] == "socketio"] == [
        "jwt:node-user"
    ]


async def run_node(url: str, token: str, bad: list[str]) -> dict[str, Any]:
    """What the npm client saw: its session, a stream, and each bad token's ``connect_error``."""
    env = {
        **os.environ,
        "GATEWAY_URL": url,
        "TOKEN": token,
        "BAD_TOKENS": orjson.dumps(bad).decode(),
        "ASK": orjson.dumps(ASK).decode(),
    }
    seen: dict[str, Any] = orjson.loads(await run_script(NODE_SCRIPT, env))
    return seen


async def test_the_tenant_rule_holds_on_the_websocket_api_too(tmp_path: Path) -> None:
    async with jwt_gateway(tmp_path) as gateway:
        url = ws_url(gateway.url)

        def bearer(subject: str, tenant: str) -> dict[str, str]:
            return {"authorization": "Bearer " + gateway.idp.token("rsa-1", claims(subject, tenant=tenant))}

        async def join(ws: ClientConnection) -> None:
            await open_session(ws)
            await ws_send(ws, {"type": "room.join", "room": "review", "since": "0"})
            assert (await receive(ws))["type"] == "room.joined"

        async with (
            connect(url, additional_headers=bearer("erin", "acme")) as author,
            connect(url, additional_headers=bearer("frank", "acme")) as member,
        ):
            await join(author)
            await join(member)
            own = await ws_stream(author, "s1", ASK, room="review")
            copies = await until_room_done(member, "s1")
        # Another tenant's members join the same name from its start, after s1: the first room
        # message one of them receives is its colleague's stream (a replay would come first).
        async with (
            connect(url, additional_headers=bearer("grace", "globex")) as outsider,
            connect(url, additional_headers=bearer("heidi", "globex")) as colleague,
        ):
            await join(outsider)
            await join(colleague)
            await ws_stream(colleague, "s2", ASK, room="review")
            first = await receive(outsider)
    assert [m["event"] for m in copies if m["type"] == "message.event"] == [
        m["event"] for m in own if m["type"] == "message.event"
    ]
    assert first["room"] == "review" and first["stream_id"] == "s2", first
