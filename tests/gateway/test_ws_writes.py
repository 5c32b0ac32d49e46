"""``/v1/ws`` frames handed straight to the protocol (``CoalescingWebSocketProtocol.write_texts``,
no ASGI send) are the frames the other paths write: for the same streams — events in one upstream
read and one by one, frames of each header length, an upstream error mid-stream, batched events, a
cancelled stream — the bytes on the wire equal those of the same protocol's ASGI path and of
uvicorn's own protocol. A client that stops reading still stops the writes: the fast path declines
while the transport is paused, and the transport's buffer stays within its high-water mark plus
one write."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pytest

from claudegate.gateway import create_app, parse_config
from claudegate.gateway._websocket_protocol import CoalescingWebSocketProtocol
from claudegate.gateway.surfaces.websocket import WebSocketSettings, WebSocketSurface
from claudegate.sse import encode_json_event
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._raw_ws import RawWebSocket
from tests.gateway._upstreams import SSE_TYPE, EndlessUpstream, Receive, Send, lifespan, read_request
from tests.gateway._ws import ASK, WAIT

KEY_ENV = "CG_WS_WRITES_KEY"


def _delta(text: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}


HEAD = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_writes",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 7, "output_tokens": 1},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
]
TAIL = [
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}},
    {"type": "message_stop"},
]
WHOLE = [*HEAD, *(_delta(f"word{number} ") for number in range(10)), *TAIL]
# A frame under 126 bytes (a ping), one under 64 KiB, and one over it: each header length.
LONG = [*HEAD, {"type": "ping"}, _delta("x" * 300), _delta("y" * 70_000), {"type": "ping"}, *TAIL]
FAILING = [
    *HEAD,
    _delta("half "),
    _delta("way "),
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
]
HELD = [*HEAD, _delta("held "), _delta("open ")]
"""Sent, then the stream stays open until the client goes away."""


class ScriptedUpstream:
    """An Anthropic upstream answering by the request's first message: ``burst`` (every event in
    one write), ``paced`` (one write per event), ``long``, ``error`` (an error event mid-stream) or
    ``hold`` (a few events, then nothing until the client hangs up)."""

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        script = (await read_request(scope, receive)).json()["messages"][0]["content"]
        events = {"burst": WHOLE, "paced": WHOLE, "long": LONG, "error": FAILING, "hold": HELD}[script]
        frames = [encode_json_event(event) for event in events]
        await send({"type": "http.response.start", "status": 200, "headers": [SSE_TYPE]})
        if script == "paced":
            for frame in frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                await asyncio.sleep(0.002)  # pacing only: the bytes compared do not depend on it
        else:
            await send({"type": "http.response.body", "body": b"".join(frames), "more_body": True})
        if script == "hold":
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        await send({"type": "http.response.body", "body": b""})


class CountingProtocol(CoalescingWebSocketProtocol):
    """Counts the writes the fast path took, at once and with the turn's others."""

    taken: ClassVar[dict[bool, int]] = {True: 0, False: 0}

    def write_texts(self, texts: list[str], at_once: bool = False) -> bool:
        took = super().write_texts(texts, at_once)
        if took:
            CountingProtocol.taken[at_once] += 1
        return took


class AsgiOnlyProtocol(CoalescingWebSocketProtocol):
    """The same protocol with its fast path declining everything: every frame is an ASGI send."""

    def write_texts(self, texts: list[str], at_once: bool = False) -> bool:
        return False


@contextmanager
def gateway(upstream_url: str, ws: Any, settings: WebSocketSettings | None = None) -> Iterator[str]:
    deployment = {"provider": "anthropic", "base_url": upstream_url, "api_key": f"env:{KEY_ENV}"}
    app = create_app(parse_config({"models": [{"name": "*", "deployments": [deployment]}]}))
    app.websocket = WebSocketSurface(app.core, settings)
    with LiveServer(app, ws=ws) as server:
        yield server.base_url


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(KEY_ENV, "sk-ant-ws-writes-0000")
    with LiveServer(ScriptedUpstream()) as server:
        yield server.base_url


def _create(stream_id: str, script: str, **fields: Any) -> dict[str, Any]:
    request = {**ASK, "messages": [{"role": "user", "content": script}]}
    return {"type": "message.create", "stream_id": stream_id, "request": request, **fields}


async def _session(base_url: str) -> tuple[bytes, list[dict[str, Any]]]:
    """Every stream script in turn on one connection; every byte the server sent, and the messages."""
    ws = await RawWebSocket.open(base_url)
    messages = [await ws.message()]
    for stream_id, script, fields in (
        ("b", "burst", {}),
        ("p", "paced", {}),
        ("l", "long", {}),
        ("e", "error", {}),
        ("bb", "burst", {"batch": True}),
        ("pb", "paced", {"batch": True}),
    ):
        await ws.send(_create(stream_id, script, **fields))
        messages += await ws.until(stream_id, ("message.done", "error"))
    await ws.send(_create("h", "hold"))
    held = await ws.until("h", ("message.event",))
    while sum(message.get("stream_id") == "h" for message in held) < len(HELD):
        held += await ws.until("h", ("message.event",))
    await ws.send({"type": "message.cancel", "stream_id": "h"})
    messages += held + await ws.until("h", ("message.done",))
    await ws.send({"type": "ping", "event_id": "last"})
    messages += await ws.until("", ("pong",))
    await ws.close()
    assert set(ws.opcodes) == {0x1}, ws.opcodes
    return bytes(ws.raw), messages


_RANDOM = re.compile(rb"(wsc_[0-9a-f]{16}|req_[0-9a-f]{24})")


def _masked(raw: bytes) -> bytes:
    """``raw`` with the session's and the calls' random ids blanked (lengths, hence frames, kept)."""
    return _RANDOM.sub(lambda found: b"x" * len(found.group()), raw)


async def test_the_fast_path_writes_the_bytes_of_the_asgi_path_and_of_uvicorn_s_own(upstream: str) -> None:
    CountingProtocol.taken = {True: 0, False: 0}
    seen: dict[str, tuple[bytes, list[dict[str, Any]]]] = {}
    for name, ws in (
        ("fast", CountingProtocol),
        ("asgi", AsgiOnlyProtocol),
        ("uvicorn", "websockets-sansio"),
    ):
        with gateway(upstream, ws) as base_url:
            seen[name] = await _session(base_url)
    raw, messages = seen["fast"]
    assert _masked(raw) == _masked(seen["asgi"][0]) == _masked(seen["uvicorn"][0])
    assert CountingProtocol.taken[True] > 0  # the streams' events went the fast way
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        by_stream.setdefault(message.get("stream_id", ""), []).append(message)
    relayed = [message["event"] for message in by_stream["l"] if message["type"] == "message.event"]
    assert relayed == LONG
    assert [message["type"] for message in by_stream["e"]][-1] == "error"
    assert by_stream["e"][-1]["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert [message["event"] for message in by_stream["e"][:-1]] == FAILING[:-1]
    batched = [item["event"] for message in by_stream["pb"][:-1] for item in message["events"]]
    assert batched == WHOLE and by_stream["pb"][-1]["type"] == "message.done"
    cancelled = by_stream["h"][-1]
    assert cancelled["type"] == "message.done" and cancelled["cancelled"] is True
    assert [message["event"] for message in by_stream["h"][:-1]] == HELD


async def test_a_client_that_stops_reading_stops_the_writes_within_the_transport_s_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-ant-ws-writes-0000")

    class Watched(CoalescingWebSocketProtocol):
        """Notes the most bytes the transport held after a write, the largest write, and how
        often the fast path declined because the transport was paused."""

        peak = 0
        largest = 0
        high_water = 0
        declined_paused = 0

        def write_texts(self, texts: list[str], at_once: bool = False) -> bool:
            took = super().write_texts(texts, at_once)
            if not took and self._write_paused:
                Watched.declined_paused += 1
            return took

        def _flush(self) -> None:
            Watched.largest = max(Watched.largest, sum(map(len, self._pending)))
            super()._flush()
            Watched.peak = max(Watched.peak, self.transport.get_write_buffer_size())
            Watched.high_water = self.transport.get_write_buffer_limits()[1]

    endless = EndlessUpstream()
    settings = WebSocketSettings(send_queue=16, send_timeout=0.5)
    with LiveServer(endless) as upstream_server, gateway(upstream_server.base_url, Watched, settings) as url:
        ws = await RawWebSocket.open(url)
        assert (await ws.message())["type"] == "session.created"
        await ws.send(_create("flood", "endless"))  # and nothing read from here on
        deadline = time.monotonic() + WAIT
        while _wire.metric(_wire.metrics(url), "claudegate_websocket_closes_total", code="4008") < 1:
            assert time.monotonic() < deadline, "the server never gave up on the client"
            await asyncio.sleep(0.05)  # polling /metrics, not synchronising
        assert endless.closed.wait(WAIT), "the upstream stream was not cut"
        await ws.close()
    assert Watched.declined_paused > 0  # the transport was paused and the fast path held back
    # Never written to while paused: at most the high-water mark, plus the write that crossed it
    # (one upstream read's frames, the read being at most a few hundred KiB).
    assert 0 < Watched.peak <= Watched.high_water + Watched.largest
    assert Watched.largest < 1 << 20
