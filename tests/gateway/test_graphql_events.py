"""``messageStream`` events built without a GraphQL execution each: for every selection, the payloads
equal what graphql-core's execution gives, byte for byte, and the plain selections take the fast
path (both paths over the schema's own resolvers; over a socket, both shapes of one request)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from graphql import OperationDefinitionNode, parse
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from websockets.asyncio.client import connect

from claudegate.gateway.surfaces.graphql._context import GraphQLContext
from claudegate.gateway.surfaces.graphql._events import EventPlan, operation_plan
from claudegate.gateway.surfaces.graphql._schema import GatewaySchema, build_schema
from claudegate.gateway.surfaces.graphql._subscriptions import EventReader
from claudegate.gateway.surfaces.graphql._types import MessageEvent
from tests.gateway._graphql import keyed_gateway, new_key, offline_context

TOOL = {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}
EVENTS: list[dict[str, Any]] = [
    {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 9, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 'héllo "x"\n'}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "signature_delta", "signature": "c2ln"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2, "content_block": TOOL},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"c'}},
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": 'ity":1}'},
    },
    {"type": "content_block_stop", "index": 2},
    {"type": "content_block_delta", "index": 2**31, "delta": {"type": "text_delta", "text": "too far"}},
    {"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": 7}},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 20}},
    {"type": "message_stop"},
]
"""Every kind of event, and two whose values the plan cannot vouch for (an Int out of range, a
text that is not a string): those are executed, and answer with the execution's error."""

ALL = "type index text thinking signature partialJson toolUseId toolName toolInput stopReason event"
FAST = [
    "type",
    "type index text",
    ALL,
    "__typename type",
    "kind: type t: text i: index",
    "type type text",
    "a: text b: text",
    "event",
]
EXECUTED = [
    "type usage { outputTokens }",
    "... on MessageEvent { type text }",
    "...Fields",
    "type text @include(if: $yes)",
    "type text @skip(if: false)",
]


class _Reply:
    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        yield EVENTS[:5]
        yield EVENTS[5:]

    async def aclose(self) -> None:
        return None


async def _stream(call: object) -> _Reply:
    return _Reply()


def _context() -> GraphQLContext:
    return offline_context(_stream)


def _document(selection: str) -> str:
    fragment = "\nfragment Fields on MessageEvent { type index text toolInput }"
    fragment = fragment if "...Fields" in selection else ""
    variables = "$i: MessageInput!, $yes: Boolean! = true" if "$yes" in selection else "$i: MessageInput!"
    return f"subscription({variables}) {{ s: messageStream(input: $i) {{ {selection} }} }}{fragment}"


async def _payloads(schema: GatewaySchema, selection: str) -> list[bytes]:
    ask = {"model": "m", "maxTokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    stream = await schema.subscribe(_document(selection), {"i": ask}, _context())
    out = []
    async for result in cast(AsyncIterator[Any], stream):
        errors = [error.formatted for error in result.errors or []]
        out.append(orjson.dumps({"data": result.data, "errors": errors, "extensions": result.extensions}))
    return out


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many events the plan built (the fast path taken)."""
    built = [0]
    original = EventPlan.data

    def counted(self: EventPlan, event: Any) -> dict[str, Any] | None:
        data = original(self, event)
        built[0] += data is not None
        return data

    monkeypatch.setattr(EventPlan, "data", counted)
    yield built


@pytest.mark.parametrize("selection", FAST + EXECUTED)
async def test_each_selection_gives_the_payloads_of_an_execution(selection: str, planned: list[int]) -> None:
    fast = build_schema()
    executed = build_schema()
    executed.execution_context_class = StrawberryGraphQLCoreExecutionContext
    expected = await _payloads(executed, selection)
    assert planned[0] == 0
    assert await _payloads(fast, selection) == expected
    assert len(expected) == len(EVENTS)
    # the events only an execution can answer: an Int out of range (its error), a text not a string
    unvouched = ("index" in selection) + ("text" in selection)
    if selection in FAST:
        assert planned[0] == len(EVENTS) - unvouched
    else:
        assert planned[0] == 0
    if "index" in selection:
        assert b"Int cannot represent" in expected[-4]
    if "text" in selection:
        assert b'":"7"' in expected[-3]  # graphql-core's String makes the int a string


STREAM = "subscription($i: MessageInput!) {{ messageStream(input: $i) {{ {} }} }}"


async def _raw(base_url: str, key: str, selection: str) -> list[bytes]:
    """The ``next`` messages of one subscription, as the socket carried them."""
    ask = {"model": "claude-sonnet-5", "maxTokens": 60, "messages": [{"role": "user", "content": "rivers"}]}
    async with connect(
        base_url.replace("http", "ws", 1) + "/graphql", subprotocols=[cast(Any, "graphql-transport-ws")]
    ) as socket:
        await socket.send(orjson.dumps({"type": "connection_init", "payload": {"apiKey": key}}).decode())
        assert orjson.loads(await socket.recv())["type"] == "connection_ack"
        message = {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": STREAM.format(selection), "variables": {"i": ask}},
        }
        await socket.send(orjson.dumps(message).decode())
        frames: list[bytes] = []
        while True:
            raw = await socket.recv()
            frame = raw.encode() if isinstance(raw, str) else raw
            if orjson.loads(frame)["type"] == "complete":
                return frames
            frames.append(frame)


async def test_over_a_socket_the_fast_and_executed_shapes_send_the_same_bytes(
    tmp_path: Path, planned: list[int]
) -> None:
    with keyed_gateway(tmp_path / "store.db") as live:
        key = await new_key(live, "fast")
        fast = await _raw(live.base_url, key, "type index text stopReason")
        built = planned[0]
        executed = await _raw(live.base_url, key, "... on MessageEvent { type index text stopReason }")
    assert built == len(fast) > 5 and planned[0] == built  # the fragment took the execution
    assert fast == executed


@pytest.mark.parametrize("selection", FAST)
def test_a_plan_builds_the_same_data_from_an_events_fields_as_from_the_event(selection: str) -> None:
    schema = build_schema()
    operation = parse(_document(selection)).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    plan = operation_plan(schema._schema, operation)
    assert plan is not None
    by_object, by_fields = EventReader(), EventReader()  # each keeps its own tool calls
    built = 0
    for event in EVENTS:
        values, item = by_fields.values(event), by_object.read(event)
        expected = plan.data(item)
        assert plan.data_of(values) == expected
        assert MessageEvent(**values) == item
        built += expected is not None
    assert built == len(EVENTS) - ("index" in selection) - ("text" in selection)
