"""The access log over connections: one line per model call made over ``/v1/ws``, Socket.IO and
GraphQL (HTTP, graphql-transport-ws), written as the call settles, with the fields of an HTTP line
and no key, prompt or completion in any."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from claudegate.gateway._access_log import ACCESS_LOGGER, FIELDS
from tests.gateway import _wire
from tests.gateway._graphql import ADMIN, execute, http_session, keyed_gateway, new_key, request, ws_session
from tests.gateway._sio import connected
from tests.gateway._ws import open_session, receive_type, send, until_done, ws_url
from tests.gateway.conftest import Live

PROMPT = "a private prompt about rivers"
ASK = {"model": "claude-sonnet-5", "max_tokens": 40, "messages": [{"role": "user", "content": PROMPT}]}
LONG_TEXT = " ".join(f"w{n}" for n in range(60))
LONG = {**ASK, "max_tokens": 200, "messages": [{"role": "user", "content": LONG_TEXT}]}
GRAPHQL_ASK = {"model": "claude-sonnet-5", "maxTokens": 40, "messages": [{"role": "user", "content": PROMPT}]}
CREATE_MESSAGE = "mutation($input: MessageInput!) { createMessage(input: $input) { id text } }"
STREAM = "subscription($input: MessageInput!) { messageStream(input: $input) { type text } }"

Entry = dict[str, Any]


class Lines(logging.Handler):
    """The access log's lines as they are written, and a wait for the ones still to come."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[str] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.raw.append(record.getMessage())
            self._changed.notify_all()

    def entries(self) -> list[Entry]:
        with self._changed:
            return [orjson.loads(line) for line in self.raw]

    def until(self, ready: Callable[[list[Entry]], bool], timeout: float = 30.0) -> list[Entry]:
        with self._changed:
            if not self._changed.wait_for(lambda: ready(self.entries()), timeout):
                raise AssertionError(f"the lines never came: {self.raw}")
        return self.entries()


@pytest.fixture
def lines() -> Iterator[Lines]:
    logger = logging.getLogger(ACCESS_LOGGER)
    level, propagate = logger.level, logger.propagate
    handler = Lines()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with keyed_gateway(tmp_path / "store.db") as gateway:
        yield gateway


def _of(entries: list[Entry], surface: str) -> list[Entry]:
    return [entry for entry in entries if entry["surface"] == surface]


def _check_common(entries: list[Entry], key: str, key_name: str) -> None:
    """What every connection line holds: the fields in order, the caller, no secret, no text."""
    for entry in entries:
        assert tuple(entry) == FIELDS
        assert entry["key_name"] == key_name and entry["key_id"].startswith("key_")
        assert entry["model"] == "claude-sonnet-5" and entry["attempts"] == 1 and entry["deployment"]
        assert entry["request_id"].startswith("req_")
        assert entry["trace_id"] is None or len(entry["trace_id"]) == 32
        assert 0 <= entry["ttfb_ms"] <= entry["latency_ms"]
        text = orjson.dumps(entry).decode()
        for secret in (key, ADMIN):
            assert secret not in text and secret[-12:] not in text
        assert PROMPT not in text and "w59" not in text


async def test_websocket_calls_make_one_line_each_answered_failed_or_cancelled(
    live: Live, lines: Lines
) -> None:
    key = await new_key(live, "team-ws")
    async with connect(ws_url(live.base_url), additional_headers={"x-api-key": key}) as ws:
        await open_session(ws)
        await send(ws, {"type": "message.create", "stream_id": "ok", "request": ASK})
        await send(
            ws,
            {"type": "message.create", "stream_id": "bad", "request": ASK, "headers": {"x-sim-fault": "529"}},
        )
        done = await until_done(ws, {"ok", "bad"})
        slow = {"type": "message.create", "stream_id": "slow", "request": LONG}
        await send(ws, {**slow, "headers": {"x-sim-latency": "event=100ms"}})
        await receive_type(ws, "message.event")
        await send(ws, {"type": "message.cancel", "stream_id": "slow"})
        cancelled = (await until_done(ws, {"slow"}))["slow"][-1]
    assert done["ok"][-1]["status"] == 200 and done["bad"][-1]["type"] == "error"
    assert cancelled["status"] == 499
    entries = _of(lines.until(lambda found: len(_of(found, "websocket")) == 3), "websocket")
    _check_common(entries, key, "team-ws")
    by_status = {entry["status"]: entry for entry in entries}
    assert set(by_status) == {200, 529, 499}
    assert {(entry["method"], entry["route"], entry["stream"]) for entry in entries} == {
        ("message.create", "/v1/ws", True)
    }
    answered, failed, left = by_status[200], by_status[529], by_status[499]
    assert answered["input_tokens"] > 0 and answered["output_tokens"] > 0 and answered["cost"] > 0
    assert answered["error_type"] is None and answered["ttfb_ms"] < answered["latency_ms"]
    assert failed["error_type"] == "overloaded_error" and failed["output_tokens"] == 0
    assert left["error_type"] is None and left["input_tokens"] > 0
    assert left["ttfb_ms"] < left["latency_ms"]  # message_start came; the cancel, later


async def test_a_socketio_call_makes_one_line(live: Live, lines: Lines) -> None:
    key = await new_key(live, "team-sio")
    async with connected(live.base_url, {"token": key}, transports=["websocket"]) as client:
        assert await client.call("message.create", {"stream_id": "s1", "request": ASK}) == {"stream_id": "s1"}
        name, done = (await client.until_done("s1"))[-1]
    assert name == "message.done" and done["status"] == 200
    (entry,) = _of(lines.until(lambda found: bool(_of(found, "socketio"))), "socketio")
    _check_common([entry], key, "team-sio")
    assert (entry["method"], entry["route"], entry["status"], entry["stream"]) == (
        "message.create",
        "/socket.io",
        200,
        True,
    )
    assert entry["output_tokens"] > 0 and entry["cost"] == pytest.approx(done["cost"])


async def test_graphql_calls_make_one_line_each_over_http_and_websocket(live: Live, lines: Lines) -> None:
    key = await new_key(live, "team-gql")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with http_session(live.base_url, key, {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}) as http:
        data, errors = await execute(http, CREATE_MESSAGE, {"input": GRAPHQL_ASK})
    assert not errors and data is not None
    async with ws_session(live.base_url, key) as session:
        streamed = [item async for item in session.subscribe(request(STREAM, {"input": GRAPHQL_ASK}))]
    async with ws_session(live.base_url, key, headers={"x-sim-latency": "event=100ms"}) as session:
        long = {**GRAPHQL_ASK, "maxTokens": 200, "messages": [{"role": "user", "content": LONG_TEXT}]}
        async for _ in session.subscribe(request(STREAM, {"input": long})):
            break  # the client stops the subscription: the call settles as cancelled
    assert streamed[-1]["messageStream"]["type"] == "message_stop"
    entries = _of(lines.until(lambda found: len(_of(found, "graphql")) == 3), "graphql")
    _check_common(entries, key, "team-gql")
    whole, stream, stopped = entries
    assert (whole["method"], whole["route"], whole["status"], whole["stream"]) == (
        "createMessage",
        "/graphql",
        200,
        False,
    )
    assert whole["trace_id"] == trace  # no span made: the client's trace
    assert whole["ttfb_ms"] == whole["latency_ms"] and whole["output_tokens"] > 0
    assert (stream["method"], stream["status"], stream["stream"]) == ("messageStream", 200, True)
    assert stream["ttfb_ms"] < stream["latency_ms"] and stream["output_tokens"] > 0
    assert (stopped["method"], stopped["status"], stopped["error_type"]) == ("messageStream", 499, None)


async def test_a_connection_call_refused_by_a_limit_is_logged_with_its_status(
    live: Live, lines: Lines
) -> None:
    async with http_session(live.base_url, ADMIN) as admin:
        data, errors = await execute(
            admin,
            "mutation($i: KeyInput!) { createKey(input: $i) { secret } }",
            {"i": {"name": "team-limited", "limits": {"requestsPerMinute": 1}}},
        )
    assert not errors and data is not None
    key = data["createKey"]["secret"]
    async with connect(ws_url(live.base_url), additional_headers={"x-api-key": key}) as ws:
        await open_session(ws)
        await send(ws, {"type": "message.create", "stream_id": "first", "request": ASK})
        await until_done(ws, {"first"})
        await send(ws, {"type": "message.create", "stream_id": "second", "request": ASK})
        refused = (await until_done(ws, {"second"}))["second"][-1]
    assert refused["type"] == "error" and refused["error"]["type"] == "rate_limit_error"
    entries = _of(lines.until(lambda found: len(_of(found, "websocket")) == 2), "websocket")
    assert [(entry["status"], entry["error_type"]) for entry in entries] == [
        (200, None),
        (429, "rate_limit_error"),
    ]
    assert entries[1]["key_name"] == "team-limited" and entries[1]["output_tokens"] == 0


async def test_an_http_request_still_makes_exactly_one_line(live: Live, lines: Lines) -> None:
    key = await new_key(live, "team-http")
    reply = await asyncio.to_thread(_wire.messages, live.base_url, ASK, {"x-api-key": key})
    assert reply.status == 200
    request_id = reply.headers["request-id"]
    found = lines.until(lambda found: any(entry["request_id"] == request_id for entry in found))
    assert [entry["route"] for entry in found if entry["request_id"] == request_id] == ["/v1/messages"]
    assert not _of(found, "websocket") and not _of(found, "graphql")
