"""``/v1/ws``: multiplexed streams carrying the exact events of the SSE answer, the OpenAI dialect,
tool_use → tool_result continuations, cancellation that cuts the upstream and settles the call,
and the connection's own life (heartbeats, idle timeout, unknown paths)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from claudegate.gateway.surfaces.websocket import PROTOCOL, WebSocketSettings
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._ledger import rows
from tests.gateway._simlog import SIM_KEY_ENV, cut_entry, ledgered_config
from tests.gateway._simlog import sim_upstream as sim_upstream  # a fixture
from tests.gateway._ws import (
    ASK,
    events,
    open_session,
    receive,
    receive_type,
    send,
    serve_ws,
    stream,
    until_done,
    ws_url,
)
from tests.gateway.conftest import Live

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _number(message: dict[str, Any]) -> int:
    return int(message["event_id"].removeprefix("evt_"))


def _text(messages: list[dict[str, Any]]) -> str:
    return "".join(
        event["delta"]["text"]
        for event in events(messages)
        if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta"
    )


async def test_two_multiplexed_streams_carry_exactly_the_events_of_the_sse_stream(gateway: Live) -> None:
    first = {**ASK, "messages": [{"role": "user", "content": "tell me about rivers, lakes and the sea"}]}
    second = {**ASK, "max_tokens": 40, "messages": [{"role": "user", "content": "and now mountains please"}]}
    slow = {"x-sim-latency": "event=10ms"}  # paced, so that the two streams overlap on the wire
    async with connect(ws_url(gateway.base_url)) as ws:
        session = await open_session(ws)
        await send(ws, {"type": "message.create", "stream_id": "s1", "request": first, "headers": slow})
        await send(ws, {"type": "message.create", "stream_id": "s2", "request": second, "headers": slow})
        got = await until_done(ws, {"s1", "s2"})
    assert session["protocol"] == PROTOCOL and session["capabilities"]["rooms"]["backend"] == "memory"
    for stream_id, request in (("s1", first), ("s2", second)):
        sse = _wire.messages(gateway.base_url, {**request, "stream": True})
        assert sse.status == 200
        expected = _wire.anthropic_events(sse.body)
        assert events(got[stream_id]) == expected
        done = got[stream_id][-1]
        assert done["type"] == "message.done" and done["stream_id"] == stream_id
        assert done["stop_reason"] == "end_turn" and done["status"] == 200 and done["cancelled"] is False
        assert done["usage"]["output_tokens"] == expected[-2]["usage"]["output_tokens"] and done["cost"] > 0
        assert done["request_id"].startswith("req_")
    one, two = [_number(m) for m in got["s1"]], [_number(m) for m in got["s2"]]
    assert one == sorted(one) and two == sorted(two) and not set(one) & set(two)
    assert min(two) < max(one) and min(one) < max(two), "the two streams did not share the connection"
    assert got[""] == []


async def test_the_openai_dialect_carries_the_chunks_of_chat_completions(gateway: Live) -> None:
    chat = {
        "model": "claude-sonnet-5",
        "messages": [{"role": "user", "content": "name three colours"}],
        "stream_options": {"include_usage": True},
    }
    async with connect(ws_url(gateway.base_url)) as ws:
        await open_session(ws)
        got = await stream(ws, "c1", chat, dialect="openai")
    expected = _wire.chat_chunks(_wire.chat(gateway.base_url, {**chat, "stream": True}).body)

    def timeless(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{key: value for key, value in chunk.items() if key != "created"} for chunk in chunks]

    assert timeless(events(got)) == timeless(expected)
    assert events(got)[0]["object"] == "chat.completion.chunk" and events(got)[-1]["usage"]
    assert got[-1]["type"] == "message.done" and got[-1]["stop_reason"] == "end_turn"


async def test_a_tool_use_stream_continues_with_tool_result_to_a_final_answer(gateway: Live) -> None:
    ask = {
        **ASK,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [WEATHER],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    }
    async with connect(ws_url(gateway.base_url)) as ws:
        await open_session(ws)
        first = await stream(ws, "ask", ask)
        calls = [
            event["content_block"]
            for event in events(first)
            if event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use"
        ]
        assert first[-1]["type"] == "message.done" and first[-1]["stop_reason"] == "tool_use"
        assert [call["name"] for call in calls] == ["get_weather"]
        wrong = {"type": "tool_result", "tool_use_id": "toolu_nope", "content": "?"}
        await send(
            ws, {"type": "tool_result", "stream_id": "bad", "previous_stream_id": "ask", "results": [wrong]}
        )
        refused = await receive(ws)
        await send(
            ws,
            {
                "type": "tool_result",
                "stream_id": "answer",
                "previous_stream_id": "ask",
                "results": [{"type": "tool_result", "tool_use_id": calls[0]["id"], "content": "sunny, 21 C"}],
                "request": {"tool_choice": {"type": "auto"}},
                "event_id": "c7",
            },
        )
        final = (await until_done(ws, {"answer"}))["answer"]
    assert refused["type"] == "error" and refused["stream_id"] == "bad"
    assert refused["param"] == "results[0].tool_use_id" and "toolu_nope" in refused["error"]["message"]
    assert final[-1]["type"] == "message.done" and final[-1]["stop_reason"] == "end_turn"
    assert 'The get_weather tool returned: "sunny, 21 C"' in _text(final)


async def test_message_cancel_cuts_the_upstream_and_settles_the_call(
    sim_upstream: str, tmp_path: Path
) -> None:
    db = tmp_path / "ledger.db"
    config = ledgered_config(sim_upstream, db)
    long_ask = {**ASK, "messages": [{"role": "user", "content": " ".join(f"word{n}" for n in range(60))}]}
    with serve_ws(config) as live:
        async with connect(ws_url(live.base_url)) as ws:
            await open_session(ws)
            await send(
                ws,
                {
                    "type": "message.create",
                    "stream_id": "slow",
                    "request": long_ask,
                    "headers": {"x-sim-latency": "event=100ms"},
                },
            )
            seen = [await receive_type(ws, "message.event") for _ in range(3)]
            await send(ws, {"type": "message.cancel", "stream_id": "slow", "event_id": "stop"})
            rest = (await until_done(ws, {"slow"}))["slow"]
            await send(ws, {"type": "message.cancel", "stream_id": "slow"})
            again = await receive(ws)
        entry = await cut_entry(sim_upstream)
        metrics = _wire.metrics(live.base_url)
    done = rest[-1]
    assert seen[0]["event"]["type"] == "message_start"
    assert done["type"] == "message.done" and done["cancelled"] is True and done["status"] == 499
    assert done["usage"]["input_tokens"] > 0 and done["stop_reason"] is None
    assert len(events(seen + rest)) < 20, "the stream ran to its end"
    assert entry["stream"] is True and entry["path"] == "/v1/messages"
    assert again["type"] == "error" and again["param"] == "stream_id"
    assert "stream_id" not in again
    assert _wire.metric(metrics, "claudegate_requests_total", route="/v1/ws", status="499") == 1
    written = rows(db)  # the gateway has shut down: every row is written
    assert [(row["dialect"], row["status"], row["stream"]) for row in written] == [("websocket", 499, 1)]
    assert written[0]["request_id"] == done["request_id"] and written[0]["input_tokens"] > 0


async def test_a_failing_upstream_ends_its_stream_with_an_error_and_the_connection_stays(
    gateway: Live,
) -> None:
    async with connect(ws_url(gateway.base_url)) as ws:
        await open_session(ws)
        before = await stream(ws, "early", ASK, headers={"x-sim-fault": "529"})
        during = await stream(ws, "mid", ASK, headers={"x-sim-fault": "error-mid:3"})
        after = await stream(ws, "fine", ASK)
    assert [m["type"] for m in before] == ["error"] and before[0]["error"]["type"] == "overloaded_error"
    assert before[0]["status"] == 529 and before[0]["stream_id"] == "early"
    assert during[-1]["type"] == "error" and during[-1]["error"]["type"] == "overloaded_error"
    assert len(events(during)) == 3
    assert after[-1]["type"] == "message.done" and after[-1]["status"] == 200


async def test_heartbeats_on_a_quiet_connection_then_the_idle_timeout_closes_it() -> None:
    settings = WebSocketSettings(heartbeat_interval=0.1, idle_timeout=0.6)
    with serve_ws(settings=settings) as live:
        async with connect(ws_url(live.base_url)) as ws:
            await open_session(ws)
            heartbeats = 0
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    heartbeats += (await receive(ws))["type"] == "heartbeat"
    assert heartbeats >= 1
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    assert "idle" in closed.value.rcvd.reason


async def test_only_v1_ws_accepts_websockets(gateway: Live) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(gateway.base_url.replace("http", "ws") + "/v1/messages"):
            pass
    assert refused.value.response.status_code == 404
    assert orjson.loads(refused.value.response.body)["error"]["type"] == "not_found_error"
    with pytest.raises(InvalidStatus) as wrong_protocol:
        async with connect(ws_url(gateway.base_url), subprotocols=["graphql-ws"]):  # type: ignore[list-item]
            pass
    assert wrong_protocol.value.response.status_code == 400


@pytest.mark.parametrize("batch", [False, True])
async def test_an_anthropic_upstream_s_own_event_json_is_relayed_per_event_or_batched(
    monkeypatch: pytest.MonkeyPatch, batch: bool
) -> None:
    monkeypatch.setenv(SIM_KEY_ENV, "sk-ant-ws-relay-000000")
    with LiveServer(create_simulator()) as upstream:
        deployment = {"provider": "anthropic", "base_url": upstream.base_url, "api_key": f"env:{SIM_KEY_ENV}"}
        with serve_ws({"models": [{"name": "*", "deployments": [deployment]}]}) as live:
            async with connect(ws_url(live.base_url)) as ws:
                await open_session(ws)
                create = {"type": "message.create", "stream_id": "r", "request": ASK, "batch": batch}
                await send(ws, create)
                got = (await until_done(ws, {"r"}))["r"]
            sse = _wire.messages(live.base_url, {**ASK, "stream": True})
    expected = _wire.anthropic_events(sse.body)
    frames = got[:-1]
    assert {frame["type"] for frame in frames} == {"message.events" if batch else "message.event"}
    relayed = [item["event"] for frame in frames for item in frame["events"]] if batch else events(frames)
    assert [event["type"] for event in relayed] == [event["type"] for event in expected]
    for mine, theirs in zip(relayed, expected, strict=True):  # ids differ per request; the rest is equal
        if mine["type"] == "message_start":
            mine["message"].pop("id"), theirs["message"].pop("id")
        assert mine == theirs
    ids = [item["event_id"] for frame in frames for item in frame["events"]] if batch else []
    assert ids == sorted(ids, key=lambda event_id: int(event_id.removeprefix("evt_")))
    assert got[-1]["type"] == "message.done" and got[-1]["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_frames_are_whole_and_in_order_with_and_without_compression(
    gateway: Live, compression: str | None
) -> None:
    """Without compression the gateway frames text itself and writes each turn's frames together;
    with it, uvicorn's own path runs. Either way the client reads the SSE stream's events."""
    requests = [
        {**ASK, "max_tokens": 30 + index, "messages": [{"role": "user", "content": f"n{index}"}]}
        for index in range(4)
    ]
    async with connect(ws_url(gateway.base_url), compression=compression) as ws:
        await open_session(ws)
        for index, request in enumerate(requests):
            await send(ws, {"type": "message.create", "stream_id": f"c{index}", "request": request})
        got = await until_done(ws, {f"c{index}" for index in range(4)})
    for index, request in enumerate(requests):
        sse = _wire.messages(gateway.base_url, {**request, "stream": True})
        assert events(got[f"c{index}"]) == _wire.anthropic_events(sse.body)
