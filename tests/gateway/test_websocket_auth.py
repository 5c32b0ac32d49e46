"""``/v1/ws`` authentication: the key by header, by subprotocol (browsers) or by a first
``session.auth`` message; refusals with documented close codes; every stream through the core's
per-key limits and ledger; and no key in any log line, even at debug level."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from claudegate.gateway.surfaces.websocket import PROTOCOL, WebSocketSettings
from claudegate.store import Database, KeyLimits, KeyStore
from tests.gateway import _wire
from tests.gateway._ws import (
    ASK,
    WAIT,
    open_session,
    receive,
    refusal,
    send,
    serve_ws,
    stream,
    until_done,
    until_room_done,
    ws_url,
)
from tests.gateway.conftest import Live, simulator_route


@dataclass(frozen=True)
class Keyed:
    """A gateway that requires keys, its database, and two keys (the second limited to 1 rpm)."""

    live: Live
    db: Path
    key: str
    key_id: str
    limited: str


async def issue_keys(db: Path) -> tuple[str, str, str]:
    database = await Database.connect(f"sqlite+aiosqlite:///{db}")
    try:
        store = KeyStore(database)
        first = await store.create("ws-tests")
        limited = await store.create("ws-limited", limits=KeyLimits(requests_per_minute=1))
        return first.plaintext, first.key.id, limited.plaintext
    finally:
        await database.close()


def keyed_config(db: Path) -> dict[str, Any]:
    return {
        "models": [simulator_route()],
        "auth": {"cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
    }


@pytest.fixture
async def keyed(tmp_path: Path) -> AsyncIterator[Keyed]:
    db = tmp_path / "keys.db"
    key, key_id, limited = await issue_keys(db)
    with serve_ws(keyed_config(db), WebSocketSettings(auth_timeout=2.0)) as live:
        yield Keyed(live, db, key, key_id, limited)


async def test_a_key_in_a_header_opens_the_session(keyed: Keyed) -> None:
    url = ws_url(keyed.live.base_url)
    async with connect(url, additional_headers={"x-api-key": keyed.key}) as ws:
        by_api_key = await open_session(ws)
        done = await stream(ws, "s1", ASK)
    async with connect(url, additional_headers={"authorization": f"Bearer {keyed.key}"}) as ws:
        by_bearer = await open_session(ws)
    assert by_api_key["authenticated"] is True and by_bearer["authenticated"] is True
    assert done[-1]["type"] == "message.done" and done[-1]["status"] == 200


async def test_a_key_in_the_subprotocol_opens_the_session_and_is_never_echoed(keyed: Keyed) -> None:
    offered = [PROTOCOL, f"claudegate.key.{keyed.key}"]
    async with connect(ws_url(keyed.live.base_url), subprotocols=offered) as ws:  # type: ignore[arg-type]
        session = await open_session(ws)
        accepted = ws.subprotocol
        echoed = ws.response.headers.get_all("Sec-WebSocket-Protocol") if ws.response else []
    assert session["authenticated"] is True
    assert accepted == PROTOCOL and echoed == [PROTOCOL]


async def test_a_first_session_auth_message_opens_the_session(keyed: Keyed) -> None:
    async with connect(ws_url(keyed.live.base_url), subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await send(ws, {"type": "session.auth", "key": keyed.key, "event_id": "hello"})
        session = await open_session(ws)
        await send(ws, {"type": "session.auth", "key": keyed.key})
        again = await receive(ws)
    assert session["authenticated"] is True
    assert again["type"] == "error" and again["param"] == "type" and "already" in again["error"]["message"]


async def test_refused_connections_get_documented_close_codes_and_no_key_in_the_reason(keyed: Keyed) -> None:
    url = ws_url(keyed.live.base_url)
    wrong = "cg-this-key-was-never-issued-0123456789abcdef"
    by_header = await refusal(url, additional_headers={"x-api-key": wrong})
    by_protocol = await refusal(url, subprotocols=[PROTOCOL, f"claudegate.key.{wrong}"])

    async def first_message(message: dict[str, Any] | None) -> tuple[int, str]:
        async with connect(url) as ws:
            if message is not None:
                await send(ws, message)
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason

    by_message = await first_message({"type": "session.auth", "key": wrong})
    not_auth = await first_message({"type": "message.create", "stream_id": "s1", "request": ASK})
    silent = await first_message(None)
    assert (
        by_header == by_protocol == by_message == (4401, "authentication_error: invalid or revoked API key")
    )
    assert not_auth[0] == 4401 and "session.auth" in not_auth[1]
    assert silent[0] == 4408
    reply = _wire.call(keyed.live.base_url, "GET", "/metrics", headers={"x-api-key": keyed.key})
    metrics = reply.body.decode()
    assert _wire.metric(metrics, "claudegate_websocket_closes_total", code="4401") == 4
    for _, reason in (by_header, by_protocol, by_message, not_auth, silent):
        assert wrong not in reason and wrong[-12:] not in reason


async def test_streams_pass_the_keys_rate_limits(keyed: Keyed) -> None:
    url = ws_url(keyed.live.base_url)
    async with connect(url, additional_headers={"x-api-key": keyed.limited}) as ws:
        await open_session(ws)
        allowed = await stream(ws, "one", ASK)
        refused = await stream(ws, "two", ASK)
    async with connect(url, additional_headers={"x-api-key": keyed.key}) as ws:
        await open_session(ws)
        other = await stream(ws, "three", ASK)
    assert allowed[-1]["type"] == "message.done"
    assert refused[0]["type"] == "error" and refused[0]["status"] == 429 and refused[0]["stream_id"] == "two"
    assert refused[0]["error"]["type"] == "rate_limit_error" and refused[0]["retry_after"] > 0
    assert other[-1]["type"] == "message.done"


async def test_the_ledger_has_one_websocket_row_per_stream(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    key, key_id, _ = await issue_keys(db)
    with serve_ws(keyed_config(db)) as live:
        async with connect(ws_url(live.base_url), additional_headers={"x-api-key": key}) as ws:
            await open_session(ws)
            for stream_id in ("a", "b"):
                await send(ws, {"type": "message.create", "stream_id": stream_id, "request": ASK})
            got = await until_done(ws, {"a", "b"})
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute(
            "SELECT request_id, key_id, dialect, stream, status FROM cg_usage"
        ).fetchall()
    finally:
        connection.close()
    expected = {(got[s][-1]["request_id"], key_id, "websocket", 1, 200) for s in ("a", "b")}
    assert set(rows) == expected


async def test_rooms_are_not_shared_between_keys(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    key, _, other = await issue_keys(db)
    with serve_ws(keyed_config(db)) as live:
        url = ws_url(live.base_url)
        async with (
            connect(url, additional_headers={"x-api-key": other}) as outsider,
            connect(url, additional_headers={"x-api-key": key}) as member,
            connect(url, additional_headers={"x-api-key": key}) as author,
        ):
            for ws in (outsider, member, author):
                await open_session(ws)
            for ws in (outsider, member):
                await send(ws, {"type": "room.join", "room": "shared-name"})
                assert (await receive(ws))["type"] == "room.joined"
            own = await stream(author, "s1", ASK, room="shared-name")
            relayed = await until_room_done(member, "s1")
            await send(outsider, {"type": "ping", "event_id": "last"})
            outsider_saw = await receive(outsider)
    assert [m["event"] for m in relayed[:-1]] == [m["event"] for m in own[:-1]]
    assert outsider_saw == {"type": "pong", "event_id": outsider_saw["event_id"], "client_event_id": "last"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_a_debug_level_serve_process_never_logs_the_key(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    key, _, _ = await issue_keys(db)
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(keyed_config(db)), encoding="utf-8")
    port = _free_port()
    command = [str(Path(sys.executable).with_name("claudegate")), "serve", "--config", "gateway.yaml"]
    command += ["--port", str(port), "--log-level", "debug"]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + WAIT
        while True:
            assert process.poll() is None, "claudegate serve exited"
            try:
                if _wire.call(base, "GET", "/health", timeout=1).status == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, "claudegate serve did not start"
                await asyncio.sleep(0.05)  # waiting for the process to listen
        url = ws_url(base)
        async with connect(url, additional_headers={"x-api-key": key}) as ws:
            await open_session(ws)
            await stream(ws, "s1", ASK)
        async with connect(url, additional_headers={"authorization": f"Bearer {key}"}) as ws:
            await open_session(ws)
        async with connect(url, subprotocols=[PROTOCOL, f"claudegate.key.{key}"]) as ws:  # type: ignore[list-item]
            await open_session(ws)
        async with connect(url) as ws:
            await send(ws, {"type": "session.auth", "key": key})
            await open_session(ws)
        await refusal(url, additional_headers={"x-api-key": key + "x"})
    finally:
        process.terminate()
        try:
            stdout, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
    output = (stdout + stderr).decode("utf-8", "replace")
    assert "< GET /v1/ws HTTP/1.1" in output and "< TEXT" in output, "no debug output captured"
    assert key not in output and key[-12:] not in output and key[3:15] not in output


async def test_on_a_gateway_that_admits_anonymous_callers_session_auth_upgrades_the_session(
    tmp_path: Path,
) -> None:
    db = tmp_path / "keys.db"
    key, _, _ = await issue_keys(db)
    config = {**keyed_config(db), "auth": {"enforce": False, "cache_seconds": 0}}
    with serve_ws(config) as live:
        async with connect(ws_url(live.base_url)) as ws:
            anonymous = await open_session(ws)
            await send(ws, {"type": "session.auth", "key": key, "event_id": "me"})
            updated = await receive(ws)
        async with connect(ws_url(live.base_url)) as ws:
            await open_session(ws)
            await stream(ws, "s1", ASK)
            await send(ws, {"type": "session.auth", "key": key})
            late = await receive(ws)
    assert anonymous["authenticated"] is False
    assert updated["type"] == "session.updated" and updated["client_event_id"] == "me"
    assert updated["session"]["authenticated"] is True and updated["session"]["id"] == anonymous["id"]
    assert late["type"] == "error" and "before any stream" in late["error"]["message"]
