"""``/graphql`` through a real GraphQL client (gql) over sockets: every query and mutation, the
auth refusals, the error codes, and ``messageStream`` against the SSE stream of the same request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from gql.transport.exceptions import TransportConnectionFailed, TransportServerError
from websockets.exceptions import ConnectionClosed

from claudegate.gateway.surfaces.graphql import schema_text
from tests.gateway import _wire
from tests.gateway._graphql import (
    ADMIN,
    TRANSPORT_WS,
    WS,
    execute,
    http_session,
    keyed_gateway,
    request,
    sse_events,
    ws_session,
)
from tests.gateway.conftest import Live, serve, simulator_route

MODEL = "claude-sonnet-5"
ASK = {"model": MODEL, "maxTokens": 40, "messages": [{"role": "user", "content": "tell me about rivers"}]}
WAIT = 30.0

CREATE_KEY = """mutation($input: KeyInput!) { createKey(input: $input) { secret key { id name limits {
  requestsPerMinute } } } }"""
CREATE_MESSAGE = """mutation($input: MessageInput!) { createMessage(input: $input) { id text content
  stopReason usage { inputTokens outputTokens cacheReadInputTokens cacheCreationInputTokens } costUsd } }"""
STREAM = """subscription($input: MessageInput!) { messageStream(input: $input) { type index text event
  usage { outputTokens } stopReason } }"""


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A gateway with keys, an admin key and a SQLite store, one per module."""
    with keyed_gateway(tmp_path_factory.mktemp("graphql") / "store.db", jobs={"poll": 0.05}) as live:
        yield live


async def new_key(base_url: str, name: str = "team", **extra: Any) -> tuple[str, str]:
    """(secret, id) of a key the admin key issues over GraphQL."""
    async with http_session(base_url, ADMIN) as admin:
        data, errors = await execute(admin, CREATE_KEY, {"input": {"name": name, **extra}})
    assert not errors and data is not None
    return data["createKey"]["secret"], data["createKey"]["key"]["id"]


async def until(check: Any, what: str) -> Any:
    """Poll an async check until it gives a truthy answer (a bound, not a synchronisation)."""
    deadline = time.monotonic() + WAIT
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


async def test_queries_and_mutations_answer_over_http(keyed: Live) -> None:
    secret, key_id = await new_key(keyed.base_url)
    async with http_session(keyed.base_url, secret) as session:
        data, errors = await execute(
            session,
            "{ models { id displayName } model(id: $m) { id } me { id kind name } }".replace(
                "$m", '"' + MODEL + '"'
            ),
        )
        assert not errors and data is not None
        assert MODEL in [model["id"] for model in data["models"]] and data["model"] == {"id": MODEL}
        assert data["me"] == {"id": key_id, "kind": "key", "name": "team"}
        data, errors = await execute(session, CREATE_MESSAGE, {"input": ASK})
        assert not errors and data is not None
        message = data["createMessage"]
        assert message["text"] and message["text"] == "".join(b["text"] for b in message["content"])
        assert message["stopReason"] in ("end_turn", "max_tokens") and message["costUsd"] > 0
        assert message["usage"]["inputTokens"] > 0 and message["usage"]["outputTokens"] > 0

        async def usage() -> Any:
            found, _ = await execute(
                session, "{ usage(groupBy: [KEY, MODEL, DAY]) { key model day requests costUsd } }"
            )
            return found and found["usage"]

        rows = await until(usage, "the ledger row of createMessage")
        assert rows[0]["key"] == key_id and rows[0]["model"] == MODEL and rows[0]["requests"] == 1
        assert rows[0]["costUsd"] == pytest.approx(message["costUsd"])
        job_input = {"request": ASK, "priority": "high", "metadata": {"ticket": "7"}}
        data, errors = await execute(
            session, "mutation($i: JobInput!) { submitJob(input: $i) { id status } }", {"i": job_input}
        )
        assert not errors and data is not None
        job_id = data["submitJob"]["id"]

        async def finished() -> Any:
            found, _ = await execute(session, f'{{ job(id: "{job_id}") {{ status result costUsd }} }}')
            return found and found["job"]["status"] == "succeeded" and found["job"]

        job = await until(finished, "the job's end")
        assert job["result"]["content"][0]["type"] == "text" and job["costUsd"] > 0
        data, errors = await execute(session, "{ jobs(first: 5) { edges { cursor node { id } } } }")
        assert data is not None and [edge["node"]["id"] for edge in data["jobs"]["edges"]] == [job_id]
        data, errors = await execute(session, f'mutation {{ cancelJob(id: "{job_id}") {{ status }} }}')
        assert data == {"cancelJob": {"status": "succeeded"}}  # an ended job stays as it ended
        data, errors = await execute(session, '{ job(id: "job_000000000000000000000000") { id } }')
        assert data == {"job": None} and errors[0]["extensions"]["code"] == "NOT_FOUND"
    async with http_session(keyed.base_url, ADMIN) as admin:
        data, errors = await execute(
            admin, "{ deployments { name state breakerState } keys { nodes { id } } }"
        )
        assert not errors and data is not None
        assert data["deployments"][0]["state"] in ("healthy", "unknown")
        assert key_id in [key["id"] for key in data["keys"]["nodes"]]
        data, errors = await execute(admin, f'mutation {{ revokeKey(id: "{key_id}") {{ revokedAt }} }}')
        assert not errors and data is not None and data["revokeKey"]["revokedAt"]
    async with http_session(keyed.base_url, secret) as session:
        data, errors = await execute(session, "{ me { id } }")
    assert data is None and errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, WS])
async def test_both_websocket_protocols_run_subscriptions_and_transport_ws_also_the_rest(
    keyed: Live, protocol: str
) -> None:
    secret, key_id = await new_key(keyed.base_url)
    async with ws_session(keyed.base_url, secret, protocol) as session:
        data, errors = await execute(session, "{ me { id } }")
        if protocol == TRANSPORT_WS:
            assert data == {"me": {"id": key_id}} and not errors
            data, errors = await execute(session, CREATE_MESSAGE, {"input": ASK})
            assert data is not None and data["createMessage"]["text"]
        else:  # graphql-ws carries subscriptions only
            assert data is None and errors[0]["extensions"]["code"] == "OPERATION_NOT_ALLOWED"
        events = [item async for item in session.subscribe(request(STREAM, {"input": ASK}))]
    kinds = [item["messageStream"]["type"] for item in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"


def _normalised(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("type") == "message_start":
        return {**event, "message": {**event["message"], "id": "msg"}}
    return event


async def test_message_stream_yields_the_events_of_the_sse_stream(keyed: Live) -> None:
    secret, _ = await new_key(keyed.base_url)
    body = {"model": MODEL, "max_tokens": 40, "messages": ASK["messages"], "stream": True}
    headers = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    reply = _wire.post(keyed.base_url, "/v1/messages", body, headers)
    sse = [orjson.loads(line[6:]) for line in reply.body.decode().splitlines() if line.startswith("data: ")]
    async with ws_session(keyed.base_url, secret) as session:
        items = [i["messageStream"] async for i in session.subscribe(request(STREAM, {"input": ASK}))]
    over_sse = await sse_events(keyed.base_url, secret, STREAM, {"input": ASK})
    assert [_normalised(item["event"]) for item in items] == [_normalised(event) for event in sse]
    text = "".join(e["delta"]["text"] for e in sse if e["type"] == "content_block_delta")
    assert "".join(item["text"] or "" for item in items) == text
    assert (
        items[-2]["stopReason"] == sse[-2]["delta"]["stop_reason"] and items[-2]["usage"]["outputTokens"] > 0
    )
    assert [event for event, _ in over_sse][-1] == "complete"
    streamed = [
        data["data"]["messageStream"]["event"] for event, data in over_sse if event == "next" and data
    ]
    assert [_normalised(event) for event in streamed] == [_normalised(event) for event in sse]


async def test_tool_use_streams_typed_with_its_whole_arguments(keyed: Live) -> None:
    secret, _ = await new_key(keyed.base_url)
    tools = [
        {
            "name": "get_weather",
            "description": "Weather of a city",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    ask = {**ASK, "messages": [{"role": "user", "content": "what is the weather in Paris?"}], "tools": tools}
    ask["toolChoice"] = {"type": "tool", "name": "get_weather"}
    document = """subscription($input: MessageInput!) { messageStream(input: $input) { type partialJson
      toolUseId toolName toolInput } }"""
    async with ws_session(keyed.base_url, secret) as session:
        items = [i["messageStream"] async for i in session.subscribe(request(document, {"input": ask}))]
    stops = [item for item in items if item["toolInput"] is not None]
    assert len(stops) == 1 and stops[0]["toolName"] == "get_weather" and stops[0]["toolUseId"]
    pieces = "".join(item["partialJson"] or "" for item in items)
    assert stops[0]["toolInput"] == orjson.loads(pieces) and stops[0]["toolInput"]


async def test_auth_refusals_carry_their_codes_and_no_data(keyed: Live) -> None:
    secret, _ = await new_key(keyed.base_url)
    for key, code in ((None, "UNAUTHENTICATED"), ("cg-not-a-key", "UNAUTHENTICATED")):
        async with http_session(keyed.base_url, key) as session:
            data, errors = await execute(session, "{ models { id } }")
        assert data is None and [error["extensions"]["code"] for error in errors] == [code]
    async with http_session(keyed.base_url, secret) as session:
        data, errors = await execute(session, "{ me { kind } deployments { name } keys { nodes { id } } }")
        assert data == {"me": {"kind": "key"}, "deployments": None, "keys": None}
        assert sorted(error["extensions"]["code"] for error in errors) == ["FORBIDDEN", "FORBIDDEN"]
        data, errors = await execute(session, 'mutation { revokeKey(id: "key_x") { id } }')
        assert data == {"revokeKey": None} and errors[0]["extensions"]["code"] == "FORBIDDEN"
    async with http_session(keyed.base_url, ADMIN) as admin:  # the admin key is not a caller's key
        data, errors = await execute(admin, CREATE_MESSAGE, {"input": ASK})
        assert data is None and errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    with pytest.raises(TransportConnectionFailed) as failed:  # graphql-transport-ws: closed, no operation
        async with ws_session(keyed.base_url, None, TRANSPORT_WS) as session:
            await execute(session, "{ me { id } }")
    closed = failed.value.__cause__
    assert isinstance(closed, ConnectionClosed) and closed.rcvd is not None and closed.rcvd.code == 4403
    with pytest.raises(TransportServerError) as refused:  # graphql-ws: connection_error with the code
        async with ws_session(keyed.base_url, "cg-wrong", WS) as session:
            await execute(session, "{ me { id } }")
    assert "UNAUTHENTICATED" in str(refused.value)


async def test_errors_name_their_code_field_and_retry(keyed: Live) -> None:
    secret, _ = await new_key(keyed.base_url, limits={"requestsPerMinute": 3})
    async with http_session(keyed.base_url, secret) as session:
        data, errors = await execute(session, CREATE_MESSAGE, {"input": {**ASK, "maxTokens": 0}})
        assert data is None and errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert errors[0]["extensions"]["field"] == "input.maxTokens"
        data, errors = await execute(session, CREATE_MESSAGE, {"input": {**ASK, "maxTokens": "many"}})
        assert data is None and errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
        codes = []
        for _ in range(3):
            _, errors = await execute(session, "{ me { id } }")
            codes += [error["extensions"]["code"] for error in errors]
    assert codes and codes[-1] == "RATE_LIMITED"
    assert all("Traceback" not in str(error) for error in errors)
    limited = next(error for error in errors if error["extensions"]["code"] == "RATE_LIMITED")
    assert limited["extensions"]["retryAfter"] >= 1
    other, _ = await new_key(keyed.base_url)
    async with http_session(keyed.base_url, other, headers={"x-sim-fault": "529"}) as session:
        data, errors = await execute(session, CREATE_MESSAGE, {"input": ASK})
    assert data is None and errors[0]["extensions"]["code"] == "UPSTREAM_ERROR"
    assert errors[0]["extensions"]["status"] == 529


async def test_a_spent_budget_is_budget_exceeded(tmp_path: Path) -> None:
    with keyed_gateway(tmp_path / "store.db") as live:
        secret, _ = await new_key(live.base_url, budget={"costPerDay": 0.0000001})
        async with http_session(live.base_url, secret) as session:
            first, _ = await execute(session, CREATE_MESSAGE, {"input": ASK})
            data, errors = await execute(session, CREATE_MESSAGE, {"input": ASK})
            me, _ = await execute(session, "{ me { budget { costPerDay leftToday spentToday } } }")
    assert first is not None and data is None
    assert errors[0]["extensions"]["code"] == "BUDGET_EXCEEDED" and errors[0]["extensions"]["retryAfter"] > 0
    assert me is not None and me["me"]["budget"]["leftToday"] == 0 and me["me"]["budget"]["spentToday"] > 0


def test_the_schema_file_is_the_schema_of_the_code() -> None:
    path = Path(__file__).parents[2] / "docs" / "schema.graphql"
    assert path.read_text(encoding="utf-8") == schema_text(), (
        "docs/schema.graphql differs from the code's schema: regenerate it with "
        "`python -m claudegate.gateway.surfaces.graphql > docs/schema.graphql`"
    )


async def test_graphql_turned_off_is_not_found() -> None:
    with serve({"models": [simulator_route()], "gateway": {"graphql": {"enabled": False}}}) as live:
        async with http_session(live.base_url) as session:
            data, errors = await execute(session, "{ models { id } }")
        reply = _wire.post(live.base_url, "/graphql", {"query": "{ models { id } }"}, {})
    assert data is None and errors[0]["extensions"]["code"] == "NOT_FOUND" and reply.status == 404
