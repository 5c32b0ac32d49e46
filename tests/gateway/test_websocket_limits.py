"""``/v1/ws`` limits: malformed messages answered without losing the connection, the per-connection
caps (streams at once, new streams per minute on an injected clock), and a client that stops
reading closed as a slow consumer while the server's send queue stays within its bound."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from claudegate.gateway.surfaces.websocket import WebSocketSettings
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._upstreams import EndlessUpstream
from tests.gateway._ws import (
    ASK,
    WAIT,
    FakeClock,
    open_session,
    receive,
    send,
    serve_ws,
    stream,
    until_done,
    ws_url,
)

SLOW = {"x-sim-latency": "ttft=50ms;event=50ms"}

# Each malformed message, and the field its error must name (None: the message as a whole).
MALFORMED: list[tuple[str | bytes | dict[str, Any], str | None, str]] = [
    ("not json at all", None, "not valid JSON"),
    ("[1, 2, 3]", None, "JSON object"),
    (b"\x00\x01binary", None, "binary"),
    ({"stream_id": "s1"}, "type", "type: field required"),
    ({"type": "message.explode"}, "type", "unknown message type"),
    ({"type": "message.create", "request": ASK}, "stream_id", "stream_id: field required"),
    ({"type": "message.create", "stream_id": "bad id!", "request": ASK}, "stream_id", "stream_id"),
    ({"type": "message.create", "stream_id": "s1"}, "request", "request: field required"),
    ({"type": "message.create", "stream_id": "s1", "request": "hi"}, "request", "JSON object"),
    (
        {"type": "message.create", "stream_id": "s1", "request": {"max_tokens": 5, "messages": []}},
        "request.model",
        "",
    ),
    (
        {"type": "message.create", "stream_id": "s1", "request": {**ASK, "max_tokens": "5"}},
        "request.max_tokens",
        "",
    ),
    ({"type": "message.create", "stream_id": "s1", "request": ASK, "dialect": "soap"}, "dialect", "dialect"),
    (
        {"type": "message.create", "stream_id": "s1", "request": ASK, "headers": {"cookie": "x"}},
        "headers.cookie",
        "",
    ),
    ({"type": "message.create", "stream_id": "s1", "request": ASK, "room": "no spaces"}, "room", "room"),
    ({"type": "message.cancel", "stream_id": "ghost"}, "stream_id", "no running stream"),
    (
        {"type": "tool_result", "stream_id": "s2", "previous_stream_id": "ghost", "results": [{}]},
        "previous_stream_id",
        "",
    ),
    (
        {"type": "tool_result", "stream_id": "s2", "previous_stream_id": "s1", "results": []},
        "results",
        "results",
    ),
    ({"type": "room.join"}, "room", "room: field required"),
    ({"type": "room.join", "room": "r", "since": "yesterday"}, "since", "since"),
    ({"type": "room.leave", "room": "never-joined"}, "room", "not a member"),
    ({"type": "session.auth"}, "key", "key: field required"),
    ({"type": "ping", "event_id": {"nested": True}}, "event_id", "event_id"),
    ("x" * 5000, None, "over the limit"),
]


def _wire_form(message: str | bytes | dict[str, Any]) -> str | bytes:
    return orjson.dumps(message).decode() if isinstance(message, dict) else message


async def test_every_malformed_message_gets_an_error_naming_its_field_and_the_connection_stays() -> None:
    with serve_ws(settings=WebSocketSettings(max_message_bytes=4096)) as live:
        async with connect(ws_url(live.base_url)) as ws:
            await open_session(ws)
            answers = []
            for number, (message, _, _) in enumerate(MALFORMED):
                await ws.send(_wire_form(message))
                await send(ws, {"type": "ping", "event_id": f"after{number}"})
                answers.append((await receive(ws), await receive(ws)))
            final = await stream(ws, "s1", ASK)
    for (message, param, words), (error, pong) in zip(MALFORMED, answers, strict=True):
        assert error["type"] == "error", (message, error)
        assert error.get("param") == param, (message, error)
        assert words in error["error"]["message"], (message, error)
        assert error["error"]["type"] in ("invalid_request_error", "request_too_large")
        assert pong["type"] == "pong"
    oversized = answers[-1][0]
    assert oversized["error"]["type"] == "request_too_large" and "stream_id" not in oversized
    # A refused message.create names its stream (that stream's end); other messages name none.
    named = [error.get("stream_id") for error, _ in answers]
    assert named[7:14] == ["s1"] * 7 and named[:7] == [None] * 7 and named[14] is None
    assert final[-1]["type"] == "message.done"


async def test_a_stream_id_still_running_is_refused_without_ending_it() -> None:
    with serve_ws() as live:
        async with connect(ws_url(live.base_url)) as ws:
            await open_session(ws)
            await send(ws, {"type": "message.create", "stream_id": "s1", "request": ASK, "headers": SLOW})
            await send(ws, {"type": "message.create", "stream_id": "s1", "request": ASK, "event_id": "dup"})
            got = await until_done(ws, {"s1"})
    duplicate = [message for message in got[""] if message["type"] == "error"]
    assert [(m["param"], m["client_event_id"], "stream_id" in m) for m in duplicate] == [
        ("stream_id", "dup", False)
    ]
    assert got["s1"][-1]["type"] == "message.done" and got["s1"][-1]["status"] == 200


async def test_streams_at_once_are_capped_per_connection() -> None:
    with serve_ws(settings=WebSocketSettings(max_streams=2)) as live:
        async with connect(ws_url(live.base_url)) as ws:
            session = await open_session(ws)
            for stream_id in ("a", "b", "c"):
                await send(
                    ws, {"type": "message.create", "stream_id": stream_id, "request": ASK, "headers": SLOW}
                )
            got = await until_done(ws, {"a", "b", "c"})
            after = await stream(ws, "d", ASK)  # the cap counts running streams only
    assert session["limits"]["max_streams"] == 2
    refused = got["c"]
    assert [m["type"] for m in refused] == ["error"] and refused[0]["error"]["type"] == "rate_limit_error"
    assert "2 streams at once" in refused[0]["error"]["message"]
    assert got["a"][-1]["type"] == got["b"][-1]["type"] == after[-1]["type"] == "message.done"


async def test_new_streams_per_minute_are_limited_on_the_injected_clock() -> None:
    clock = FakeClock()
    with serve_ws(settings=WebSocketSettings(messages_per_minute=2), clock=clock) as live:
        async with connect(ws_url(live.base_url)) as ws:
            await open_session(ws)
            first = await stream(ws, "1", ASK)
            clock.now += 30
            second = await stream(ws, "2", ASK)
            refused = await stream(ws, "3", ASK)
            clock.now += 30.5  # the first stream's minute is over: one more fits
            third = await stream(ws, "4", ASK)
            refused_again = await stream(ws, "5", ASK)
    assert [first[-1]["type"], second[-1]["type"], third[-1]["type"]] == ["message.done"] * 3
    assert refused[0]["type"] == "error" and refused[0]["error"]["type"] == "rate_limit_error"
    assert refused[0]["retry_after"] == pytest.approx(30.0)
    assert refused_again[0]["type"] == "error" and refused_again[0]["retry_after"] == pytest.approx(29.5)


@pytest.fixture
def endless(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EndlessUpstream, str]]:
    monkeypatch.setenv("CG_WS_ENDLESS_KEY", "sk-ant-endless")
    upstream = EndlessUpstream()
    with LiveServer(upstream) as server:
        yield upstream, server.base_url


async def test_a_client_that_stops_reading_is_closed_and_the_send_queue_stays_bounded(
    endless: tuple[EndlessUpstream, str],
) -> None:
    upstream, url = endless
    deployment = {"provider": "anthropic", "base_url": url, "api_key": "env:CG_WS_ENDLESS_KEY"}
    settings = WebSocketSettings(send_queue=16, send_timeout=0.5)
    with serve_ws({"models": [{"name": "*", "deployments": [deployment]}]}, settings) as live:
        # max_queue=1: the client library stops reading the socket once one message waits unread;
        # no compression, so that the socket buffers fill with megabytes rather than deflated gigabytes.
        async with connect(ws_url(live.base_url), max_queue=1, compression=None) as ws:
            await open_session(ws)
            await send(ws, {"type": "message.create", "stream_id": "flood", "request": ASK})
            deadline = time.monotonic() + WAIT
            while (
                _wire.metric(_wire.metrics(live.base_url), "claudegate_websocket_closes_total", code="4008")
                < 1
            ):
                assert time.monotonic() < deadline, "the server never gave up on the client"
                await asyncio.sleep(0.05)  # polling /metrics, not synchronising
            assert upstream.closed.wait(WAIT), "the upstream stream was not cut"
            received = 0
            with pytest.raises(ConnectionClosed) as closed:  # reading again: the backlog, then the close
                while True:
                    await asyncio.wait_for(ws.recv(), WAIT)
                    received += 1
        surface = live.app.websocket
        # Never more frames waiting than the queue holds: a send that cannot go through blocks its
        # stream, and send_timeout later closes the client.
        assert surface.peak_queued <= 16
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    assert "not reading" in closed.value.rcvd.reason
    assert received > 16
