"""``messageStream`` subscriptions run directly by the ``graphql-transport-ws`` handler (past
strawberry's operation): over a real socket, every message is the one strawberry's own path sends
for the same subscription, byte for byte — for each plain selection (aliases, ``__typename``, an
operation name, a literal input), for the shapes that are left to strawberry (fragments,
directives, nested fields, a bad input, bad variables, an unknown operation name), for the
errors of the direct path itself (the per-minute limit, an upstream failure before or during the
stream, an event only an execution can answer) — and stopping a direct subscription cancels its
upstream and settles its call with 499."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from claudegate.gateway.surfaces.graphql import _direct, _subscriptions
from claudegate.gateway.surfaces.graphql._direct import DirectRun, DirectSubscriptions
from claudegate.gateway.surfaces.graphql._subscriptions import EventReader
from tests.gateway._graphql import ADMIN, execute, http_session, keyed_gateway, new_key
from tests.gateway._ledger import rows
from tests.gateway._simlog import cut_entry, ledgered_config
from tests.gateway._simlog import sim_upstream as sim_upstream  # a fixture
from tests.gateway.conftest import Live, serve
from tests.gateway.test_graphql_events import EVENTS

ASK = {"model": "claude-sonnet-5", "maxTokens": 60, "messages": [{"role": "user", "content": "rivers"}]}
STREAM = "subscription($i: MessageInput!) {{ messageStream(input: $i) {{ {} }} }}"
DIRECT = [
    STREAM.format("type index text stopReason"),
    STREAM.format("__typename type"),
    STREAM.format("kind: type t: text i: index text"),
    STREAM.format("type type text thinking signature partialJson toolUseId toolName toolInput"),
    "subscription Named($i: MessageInput!) { s: messageStream(input: $i) { type text } }",
    'subscription { messageStream(input: {model: "claude-sonnet-5", maxTokens: 60, '
    'messages: [{role: "user", content: "rivers"}]}) { type text } }',
    'subscription($m: Int = 60) { messageStream(input: {model: "claude-sonnet-5", maxTokens: $m, '
    'messages: [{role: "user", content: "rivers"}]}) { type text } }',
]
STRAWBERRYS = [
    STREAM.format("... on MessageEvent { type index text }"),
    STREAM.format("...Fields") + " fragment Fields on MessageEvent { type text }",
    STREAM.format("type usage { outputTokens }"),
    STREAM.format("type text @include(if: true)"),
    "subscription($i: MessageInput!) { messageStream(input: $i) @skip(if: false) { type } }",
]


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many subscriptions ran directly."""
    count = [0]
    original = DirectSubscriptions.prepare

    def counted(self: DirectSubscriptions, *args: Any) -> DirectRun | None:
        run = original(self, *args)
        count[0] += run is not None
        return run

    monkeypatch.setattr(DirectSubscriptions, "prepare", counted)
    return count


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with keyed_gateway(tmp_path / "store.db") as gateway:
        yield gateway


async def _open(base_url: str, key: str, headers: dict[str, str] | None = None) -> ClientConnection:
    socket = await connect(
        base_url.replace("http", "ws", 1) + "/graphql",
        subprotocols=[cast(Any, "graphql-transport-ws")],
        additional_headers=headers or {},
    )
    await socket.send(orjson.dumps({"type": "connection_init", "payload": {"apiKey": key}}).decode())
    assert orjson.loads(await socket.recv())["type"] == "connection_ack"
    return socket


async def _messages(socket: ClientConnection, payload: dict[str, Any], id: str = "7") -> list[bytes]:
    """The messages of one subscription, as the socket carried them, to its end."""
    await socket.send(orjson.dumps({"id": id, "type": "subscribe", "payload": payload}).decode())
    frames: list[bytes] = []
    while True:
        try:
            raw = await socket.recv()
        except ConnectionClosed as closed:  # strawberry closes the socket on some refusals
            assert closed.rcvd is not None
            frames.append(f"closed {closed.rcvd.code} {closed.rcvd.reason}".encode())
            return frames
        frame = raw.encode() if isinstance(raw, str) else raw
        frames.append(frame)
        if orjson.loads(frame)["type"] in ("complete", "error"):
            return frames


async def _frames(
    live: Live,
    key: str,
    query: str,
    variables: dict[str, Any] | None = None,
    fault: str | None = None,
    operation_name: str | None = None,
) -> list[bytes]:
    payload: dict[str, Any] = {"query": query, "variables": {"i": ASK} if variables is None else variables}
    if operation_name is not None:
        payload["operationName"] = operation_name
    socket = await _open(live.base_url, key, {"x-sim-fault": fault} if fault else None)
    async with socket:
        return await _messages(socket, payload)


def _strawberry_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DirectSubscriptions, "prepare", lambda self, *args: None)


async def _both(
    live: Live, key: str, monkeypatch: pytest.MonkeyPatch, query: str, **options: Any
) -> tuple[list[bytes], list[bytes]]:
    """(strawberry's messages, then the same subscription's with the direct path on)."""
    with monkeypatch.context() as patch:
        _strawberry_only(patch)
        strawberrys = await _frames(live, key, query, **options)
    return strawberrys, await _frames(live, key, query, **options)


async def test_each_plain_shape_runs_directly_and_sends_strawberrys_messages(
    live: Live, direct: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await new_key(live, "direct")
    for number, query in enumerate(DIRECT, 1):
        name = "Named" if "Named" in query else None
        variables: dict[str, Any] | None = {} if "$i" not in query else None
        strawberrys, directs = await _both(
            live, key, monkeypatch, query, variables=variables, operation_name=name
        )
        assert direct[0] == number, query
        assert directs == strawberrys, query
        assert len(directs) > 5 and orjson.loads(directs[-1]) == {"id": "7", "type": "complete"}
        first = orjson.loads(directs[0])["payload"]
        assert first["extensions"]["cost"] > 1 and first["data"]


async def test_a_document_is_run_directly_once_it_has_been_validated(live: Live, direct: list[int]) -> None:
    key = await new_key(live, "first")
    query = STREAM.format("type text")
    first = await _frames(live, key, query)
    assert direct[0] == 0  # strawberry parses and validates it the first time
    second = await _frames(live, key, query)
    assert direct[0] == 1 and second == first


async def test_other_shapes_and_refused_ones_are_left_to_strawberry(
    live: Live, direct: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await new_key(live, "others")
    cases: list[tuple[str, dict[str, Any]]] = [(query, {}) for query in STRAWBERRYS]
    plain = STREAM.format("type text")
    cases += [
        (plain, {"variables": {"i": {**ASK, "maxTokens": 0}}}),  # the request's own check
        (plain, {"variables": {"i": {**ASK, "maxTokens": "many"}}}),  # the variables' coercion
        (plain, {"variables": {"i": {**ASK, "messages": [{"role": "robot", "content": "x"}]}}}),
        (plain, {"variables": {}}),  # a missing variable
        (plain, {"operation_name": "Other"}),  # no such operation
        (
            "subscription A($i: MessageInput!) { messageStream(input: $i) { type } } "
            'subscription B { jobUpdates(id: "x") { id } }',
            {"operation_name": "A"},
        ),
    ]
    for query, options in cases:
        strawberrys, again = await _both(live, key, monkeypatch, query, **options)
        assert again == strawberrys, (query, options)
    assert direct[0] == 0
    refused = orjson.loads((await _frames(live, key, plain, {"i": {**ASK, "maxTokens": 0}}))[-2])
    assert refused["payload"]["errors"][0]["extensions"]["field"] == "input.maxTokens"


async def test_the_admin_key_is_left_to_strawberry(live: Live, direct: list[int]) -> None:
    query = STREAM.format("type text")
    key = await new_key(live, "warm")
    await _frames(live, key, query)
    frames = await _frames(live, ADMIN, query)
    assert direct[0] == 0
    assert orjson.loads(frames[0])["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("fault", ["529", "error-mid:3", "reset-mid:3"])
async def test_an_upstream_failure_ends_the_stream_as_strawberry_ends_it(
    live: Live, direct: list[int], monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    key = await new_key(live, "faults")
    query = STREAM.format("type index text stopReason")
    strawberrys, directs = await _both(live, key, monkeypatch, query, fault=fault)
    assert direct[0] == 1
    assert directs == strawberrys
    last = orjson.loads(directs[-2])["payload"]
    if fault == "error-mid:3":  # the upstream's error event is an event like any other
        assert last["data"]["messageStream"]["type"] == "error"
    else:
        assert last["data"] is None and last["errors"][0]["extensions"]["code"] == "UPSTREAM_ERROR"
        assert last["extensions"]["cost"] > 1
    assert orjson.loads(directs[-1])["type"] == "complete"


async def _limited_key(live: Live, name: str) -> str:
    document = "mutation($i: KeyInput!) { createKey(input: $i) { secret } }"
    async with http_session(live.base_url, ADMIN) as admin:
        data, errors = await execute(
            admin, document, {"i": {"name": name, "limits": {"requestsPerMinute": 2}}}
        )
    assert not errors and data is not None
    secret: str = data["createKey"]["secret"]
    return secret


def _without_retry_after(frame: bytes) -> dict[str, Any]:
    """The frame without when to retry (the two refusals come seconds apart): ``retryAfter`` and
    the seconds the message names."""
    message: dict[str, Any] = orjson.loads(frame)
    for error in message.get("payload") or []:
        error["extensions"].pop("retryAfter")
        error["message"] = re.sub(r"\b\d+ s\b", "N s", error["message"])
    return message


async def test_the_per_minute_limit_refuses_a_direct_subscription_as_strawberry_does(
    live: Live, direct: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    query = STREAM.format("type text")
    with monkeypatch.context() as patch:
        _strawberry_only(patch)
        key = await _limited_key(live, "strawberry")
        expected = [await _frames(live, key, query) for _ in range(3)]
    key = await _limited_key(live, "direct")
    got = [await _frames(live, key, query) for _ in range(3)]
    assert direct[0] == 3  # all three passed the checks; the limit refused the third
    assert got[:2] == expected[:2]
    refusal = _without_retry_after(got[2][0])
    assert [_without_retry_after(frame) for frame in got[2]] == [_without_retry_after(f) for f in expected[2]]
    assert refusal["type"] == "error" and refusal["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert orjson.loads(got[2][0])["payload"][0]["extensions"]["retryAfter"] >= 1


async def _canned(context: Any, call: Any) -> AsyncGenerator[dict[str, Any], None]:
    """Every kind of event, two of which only an execution can answer (see ``EVENTS``)."""
    reader = EventReader()
    for batch in (EVENTS[:5], EVENTS[5:]):
        for position, event in enumerate(batch):
            values = reader.values(event)
            values["follows"] = position < len(batch) - 1
            yield values


async def test_an_event_the_plan_cannot_build_is_executed_as_strawberry_executes_it(
    live: Live, direct: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_subscriptions, "message_event_values", _canned)
    monkeypatch.setattr(_direct, "message_event_values", _canned)
    key = await new_key(live, "canned")
    query = STREAM.format("type index text toolInput")
    strawberrys, directs = await _both(live, key, monkeypatch, query)
    assert direct[0] == 1
    assert directs == strawberrys and len(directs) == len(EVENTS) + 1
    assert b"Int cannot represent" in directs[-5] and b'"text":"7"' in directs[-4]


async def test_stopping_a_direct_subscription_cuts_the_upstream_and_settles_one_row(
    sim_upstream: str, tmp_path: Path, direct: list[int]
) -> None:
    db = tmp_path / "ledger.db"
    long = {**ASK, "maxTokens": 200, "messages": [{"role": "user", "content": " ".join(["word"] * 60)}]}
    payload = {"query": STREAM.format("type text"), "variables": {"i": long}}
    with serve(ledgered_config(sim_upstream, db)) as gateway:
        async with await _open(gateway.base_url, "", {"x-sim-latency": "event=100ms"}) as socket:
            short = {**payload, "variables": {"i": {**ASK, "maxTokens": 5}}}
            await _messages(socket, short, id="1")  # strawberry validates the document
            await socket.send(orjson.dumps({"id": "2", "type": "subscribe", "payload": payload}).decode())
            first = orjson.loads(await socket.recv())
            assert first["payload"]["data"]["messageStream"]["type"] == "message_start"
            await socket.send(orjson.dumps({"id": "2", "type": "complete"}).decode())
            entry = await cut_entry(sim_upstream)
    assert direct[0] == 1 and entry["stream"] is True
    written = rows(db)  # the gateway has shut down: every row is written
    assert [(row["dialect"], row["status"]) for row in written] == [("graphql", 200), ("graphql", 499)]
