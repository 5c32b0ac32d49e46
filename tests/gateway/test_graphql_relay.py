"""``messageStream`` events relayed by the ``graphql-transport-ws`` handler (past strawberry's
per-result machinery): over a real socket, the frames are those strawberry sends itself, byte for
byte — for a plain selection (relayed), a selection the plan does not take (executed), an error mid
stream — and ``graphql-ws`` sends the same frames for both shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from websockets.asyncio.client import connect

from claudegate.gateway.surfaces.graphql import _transport_ws
from claudegate.gateway.surfaces.graphql._transport_ws import RelayingTransportWSHandler
from tests.gateway._graphql import keyed_gateway, new_key

STREAM = "subscription($i: MessageInput!) {{ messageStream(input: $i) {{ {} }} }}"
PLAIN = "type index text stopReason"
FRAGMENT = "... on MessageEvent { type index text stopReason }"
ASK = {"model": "claude-sonnet-5", "maxTokens": 60, "messages": [{"role": "user", "content": "rivers"}]}


async def _frames(
    base_url: str, key: str, protocol: str, selection: str, fault: str | None = None
) -> list[bytes]:
    """The messages of one subscription after the handshake, as the socket carried them, to its end."""
    headers = {"x-sim-fault": fault} if fault else {}
    async with connect(
        base_url.replace("http", "ws", 1) + "/graphql",
        subprotocols=[cast(Any, protocol)],
        additional_headers=headers,
    ) as socket:
        await socket.send(orjson.dumps({"type": "connection_init", "payload": {"apiKey": key}}).decode())
        assert orjson.loads(await socket.recv())["type"] == "connection_ack"
        kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
        payload = {"query": STREAM.format(selection), "variables": {"i": ASK}}
        await socket.send(orjson.dumps({"id": "7", "type": kind, "payload": payload}).decode())
        frames: list[bytes] = []
        while True:
            raw = await socket.recv()
            frame = raw.encode() if isinstance(raw, str) else raw
            frames.append(frame)
            if orjson.loads(frame)["type"] in ("complete", "error"):
                return frames


@pytest.fixture
def relayed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many ``next`` messages the handler wrote itself (not through strawberry)."""
    count = [0]
    original = RelayingTransportWSHandler._send_texts

    async def counted(self: RelayingTransportWSHandler, operation: Any, texts: list[str]) -> None:
        count[0] += len(texts)
        await original(self, operation, texts)

    monkeypatch.setattr(RelayingTransportWSHandler, "_send_texts", counted)
    return count


def _strawberry_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_transport_ws, "relays_events", lambda schema: False)


async def test_relayed_frames_are_strawberrys_own(
    tmp_path: Path, relayed: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    with keyed_gateway(tmp_path / "store.db") as live:
        key = await new_key(live, "relay")
        fast = await _frames(live.base_url, key, "graphql-transport-ws", PLAIN)
        relayed_fast = relayed[0]
        executed = await _frames(live.base_url, key, "graphql-transport-ws", FRAGMENT)
        assert relayed[0] == relayed_fast  # a fragment: every event through strawberry
        with monkeypatch.context() as patch:
            _strawberry_only(patch)
            plain = await _frames(live.base_url, key, "graphql-transport-ws", PLAIN)
    assert relayed_fast == len(fast) - 2  # all but the first event (it sets the stage) and complete
    assert len(fast) > 5
    assert fast == executed == plain
    second = orjson.loads(fast[1])  # a relayed one, with the operation's extensions as strawberry adds them
    assert (
        second["id"] == "7" and second["type"] == "next" and set(second["payload"]["extensions"]) == {"cost"}
    )
    assert orjson.loads(fast[-1]) == {"id": "7", "type": "complete"}


@pytest.mark.parametrize("fault", ["error-mid:3", "reset-mid:3"])
async def test_an_error_mid_stream_is_sent_as_strawberry_sends_it(
    tmp_path: Path, relayed: list[int], monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    with keyed_gateway(tmp_path / "store.db") as live:
        key = await new_key(live, "relay")
        fast = await _frames(live.base_url, key, "graphql-transport-ws", PLAIN, fault)
        assert relayed[0] > 0
        with monkeypatch.context() as patch:
            _strawberry_only(patch)
            plain = await _frames(live.base_url, key, "graphql-transport-ws", PLAIN, fault)
    assert fast == plain
    failed = orjson.loads(fast[-2])["payload"]
    if fault.startswith("error"):  # the upstream's error event is an event like any other
        assert failed["data"]["messageStream"]["type"] == "error"
    else:  # the connection broke: the stream ends with the error, no data
        assert failed["data"] is None and failed["errors"][0]["extensions"]["code"] == "UPSTREAM_ERROR"
    assert orjson.loads(fast[-1])["type"] == "complete"


async def test_graphql_ws_sends_the_same_frames_for_both_shapes(tmp_path: Path, relayed: list[int]) -> None:
    with keyed_gateway(tmp_path / "store.db") as live:
        key = await new_key(live, "relay")
        fast = await _frames(live.base_url, key, "graphql-ws", PLAIN)
        executed = await _frames(live.base_url, key, "graphql-ws", FRAGMENT)
    assert relayed[0] == 0  # graphql-ws is strawberry's own handler
    assert len(fast) > 5 and fast == executed
    assert orjson.loads(fast[0])["type"] == "data" and orjson.loads(fast[-1])["type"] == "complete"
