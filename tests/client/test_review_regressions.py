"""Behaviour that once went wrong: secrets in reprs, connections left open, threads left running."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from typing import Any

import pytest

from claudegate.client import AsyncClient, Client, MockResponse, MockTransport, Request, RetryPolicy
from claudegate.errors import (
    APIConnectionError,
    APIResponseValidationError,
    ClaudegateError,
    InternalServerError,
    UserError,
)
from claudegate.simulator import create_app
from claudegate.testing import LiveServer

KEY = "sk-ant-secret-value-9999"
ASK: dict[str, Any] = {
    "model": "claude-sonnet-5",
    "max_tokens": 32,
    "messages": [{"role": "user", "content": "hi"}],
}
MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


def test_request_repr_and_logs_never_show_the_key(caplog: pytest.LogCaptureFixture) -> None:
    client = AsyncClient(api_key=KEY, base_url="http://127.0.0.1:9")
    request = client.build_request("POST", "/v1/messages", ASK)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("t").debug("sending %r / %s", request, request)
    assert KEY not in repr(request) and KEY not in caplog.text
    assert "<redacted>" in repr(request)


async def test_unread_streams_release_their_connection() -> None:
    with LiveServer(create_app()) as server:
        async with AsyncClient(api_key=KEY, base_url=server.base_url, max_connections=1) as client:
            for _ in range(3):  # with a pool of one, a leaked connection would block the next call
                async with client.messages.stream(**ASK):
                    pass
            message = await asyncio.wait_for(client.messages.create(**ASK), 5)
            assert message.stop_reason == "end_turn"


def test_a_dropped_sync_client_stops_its_thread() -> None:
    def portal_threads() -> int:
        return sum(t.name == "claudegate-portal" for t in threading.enumerate())

    before = portal_threads()
    client = Client(api_key=KEY, transport=MockTransport(lambda r: MockResponse.json(MESSAGE)))
    client.messages.create(**ASK)
    assert portal_threads() == before + 1
    del client
    gc.collect()
    assert portal_threads() == before


def test_a_closed_sync_client_refuses_work() -> None:
    client = Client(api_key=KEY, transport=MockTransport(lambda r: MockResponse.json(MESSAGE)))
    client.close()
    client.close()
    with pytest.raises(UserError, match="closed"):
        client.messages.create(**ASK)


@pytest.mark.parametrize("status", [408, 409])
async def test_timeout_and_conflict_statuses_are_retried(status: int) -> None:
    answers = [MockResponse.json({"type": "error", "error": {"type": "x", "message": "m"}}, status)]
    transport = MockTransport(lambda r: answers.pop() if answers else MockResponse.json(MESSAGE))
    client = AsyncClient(api_key=KEY, transport=transport, retry=RetryPolicy(initial_delay=0))
    assert (await client.messages.create(**ASK)).id == "msg_1"
    assert len(transport.requests) == 2


async def test_connection_errors_can_be_left_unretried() -> None:
    def refuse(request: Request) -> MockResponse:
        raise APIConnectionError("refused")

    transport = MockTransport(refuse)
    policy = RetryPolicy(initial_delay=0, retry_connection_errors=False)
    client = AsyncClient(api_key=KEY, transport=transport, retry=policy)
    with pytest.raises(APIConnectionError):
        await client.messages.create(**ASK)
    assert len(transport.requests) == 1


async def test_huge_error_bodies_are_cut_in_the_message() -> None:
    page = "<html>" + "x" * 200_000 + "</html>"
    client = AsyncClient(
        api_key=KEY, transport=MockTransport(lambda r: MockResponse(502, content=page.encode()))
    )
    with pytest.raises(InternalServerError) as info:
        await client.messages.create(**ASK)
    assert len(str(info.value)) < 1200 and info.value.body == page


async def test_ids_are_sent_as_one_path_segment() -> None:
    model = {"id": "x", "type": "model", "display_name": "X", "created_at": "2026-01-01T00:00:00Z"}
    transport = MockTransport(lambda r: MockResponse.json(model))
    client = AsyncClient(api_key=KEY, base_url="https://api.example.test", transport=transport)
    await client.models.retrieve("../messages/batches?x=1")
    assert transport.requests[0].url == "https://api.example.test/v1/models/..%2Fmessages%2Fbatches%3Fx%3D1"


async def test_newer_usage_shapes_parse_and_bad_bodies_stay_in_the_tree() -> None:
    newer = {
        **MESSAGE,
        "usage": {
            "input_tokens": 1,
            "output_tokens": 1,
            "server_tool_use": {"web_fetch_requests": 1},
            "cache_creation": {"ephemeral_1h_input_tokens": 4},
        },
    }
    client = AsyncClient(api_key=KEY, transport=MockTransport(lambda r: MockResponse.json(newer)))
    message = await client.messages.create(**ASK)
    assert message.to_dict()["usage"] == newer["usage"]
    broken = {**MESSAGE, "usage": {"input_tokens": "many"}}
    client = AsyncClient(api_key=KEY, transport=MockTransport(lambda r: MockResponse.json(broken)))
    with pytest.raises(APIResponseValidationError) as info:
        await client.messages.create(**ASK)
    assert isinstance(info.value, ClaudegateError) and info.value.body == broken


def test_a_client_belongs_to_one_event_loop() -> None:
    with LiveServer(create_app()) as server:
        client = AsyncClient(api_key=KEY, base_url=server.base_url)

        async def call() -> None:
            await client.messages.create(**ASK)

        async def call_and_close() -> None:
            with pytest.raises(UserError, match="one AsyncClient per event loop"):
                await client.messages.create(**ASK)

        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(call())
            asyncio.run(call_and_close())
            loop.run_until_complete(client.aclose())
        finally:
            loop.close()
