"""HttpToolsTransport against the simulator over a real socket, and the client scenarios re-run on it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from claudegate.client import AsyncClient, Client, HttpToolsTransport, Request, Timeout
from claudegate.errors import APIConnectionError, APITimeoutError
from claudegate.simulator import SimulatorApp, SimulatorConfig, create_app
from claudegate.sse import SSEDecoder
from claudegate.testing import LiveServer
from claudegate.types import TextBlock
from tests.client import test_against_simulator as scenarios

KEY = scenarios.KEY
ASK = scenarios.ASK
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[SimulatorApp, str]]:
    app = create_app(SimulatorConfig(batch_delay=0.2, stall_timeout=5.0))
    with LiveServer(app) as server:
        yield app, server.base_url


@pytest.fixture
async def client(sim: tuple[SimulatorApp, str]) -> AsyncIterator[AsyncClient]:
    """The client of the shared scenarios, on this transport."""
    app, base_url = sim
    app.simulator.log.clear()
    app.simulator.faults.reset()
    async with AsyncClient(api_key=KEY, base_url=base_url, transport=HttpToolsTransport()) as c:
        yield c


@pytest.fixture
async def transport() -> AsyncIterator[HttpToolsTransport]:
    t = HttpToolsTransport()
    yield t
    await t.aclose()


# Every client scenario that runs on the ``client`` fixture, re-run here on HttpToolsTransport.
test_create_returns_a_typed_message = scenarios.test_create_returns_a_typed_message
test_stream_with_tools_matches_the_official_sdk = scenarios.test_stream_with_tools_matches_the_official_sdk
test_count_tokens_agrees_with_usage = scenarios.test_count_tokens_agrees_with_usage
test_models_auto_paginate = scenarios.test_models_auto_paginate
test_batch_runs_to_results = scenarios.test_batch_runs_to_results
test_backoff_delays_follow_the_policy = scenarios.test_backoff_delays_follow_the_policy
test_retry_after_is_honoured = scenarios.test_retry_after_is_honoured
test_exhausted_retries_raise_with_the_attempt_count = (
    scenarios.test_exhausted_retries_raise_with_the_attempt_count
)
test_should_retry_false_and_client_errors_are_not_retried = (
    scenarios.test_should_retry_false_and_client_errors_are_not_retried
)
test_reset_before_headers_is_retried_then_surfaces = (
    scenarios.test_reset_before_headers_is_retried_then_surfaces
)
test_stream_is_retried_only_before_its_first_byte = (
    scenarios.test_stream_is_retried_only_before_its_first_byte
)
test_cut_stream_surfaces_within_a_bound = scenarios.test_cut_stream_surfaces_within_a_bound
test_timeouts_fire = scenarios.test_timeouts_fire
test_each_fault_raises_its_error_class_without_retry = (
    scenarios.test_each_fault_raises_its_error_class_without_retry
)


def messages(base_url: str, *, stream: bool, fault: str | None = None, **limits: float) -> Request:
    headers = {**HEADERS, "x-sim-latency": "event=10ms"}
    if fault:
        headers["x-sim-fault"] = fault
    body = orjson.dumps({**ASK, "stream": stream})
    return Request("POST", f"{base_url}/v1/messages", headers, body, Timeout(**limits), stream)


async def test_a_json_answer(sim: tuple[SimulatorApp, str], transport: HttpToolsTransport) -> None:
    answer = await transport.handle(messages(sim[1], stream=False))
    assert answer.status_code == 200 and answer.request_id
    assert answer.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = orjson.loads(await answer.aread())
    assert body["type"] == "message" and body["stop_reason"] == "end_turn"


async def test_an_sse_stream_arrives_event_by_event(
    sim: tuple[SimulatorApp, str], transport: HttpToolsTransport
) -> None:
    answer = await transport.handle(messages(sim[1], stream=True))
    assert answer.headers["content-type"].startswith("text/event-stream")
    decoder = SSEDecoder()
    names: list[str | None] = []
    arrivals: list[float] = []
    async for chunk in answer.aiter_bytes():
        arrivals.append(time.monotonic())
        names += [event.event for event in decoder.feed(chunk)]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert len(arrivals) >= 5 and arrivals[-1] - arrivals[0] >= 0.04  # not buffered up to the end


async def test_simulated_faults(sim: tuple[SimulatorApp, str], transport: HttpToolsTransport) -> None:
    with pytest.raises(APIConnectionError, match="without answering"):
        await transport.handle(messages(sim[1], stream=False, fault="reset-before"))
    cut = await transport.handle(messages(sim[1], stream=True, fault="reset-mid:3"))
    received: list[bytes] = []
    with pytest.raises(APIConnectionError, match="mid-response"):
        async for chunk in cut.aiter_bytes():
            received.append(chunk)
    assert b"message_start" in b"".join(received)
    started = time.monotonic()
    stalled = await transport.handle(messages(sim[1], stream=True, fault="stall", read=0.3))
    with pytest.raises(APITimeoutError, match="read timeout"):
        await stalled.aread()
    assert time.monotonic() - started < 1.5
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="total timeout"):
        await transport.handle(messages(sim[1], stream=False, fault="stall", total=0.3))
    assert 0.25 < time.monotonic() - started < 1.5


def test_the_sync_client_runs_on_this_transport(sim: tuple[SimulatorApp, str]) -> None:
    with Client(api_key=KEY, base_url=sim[1], transport=HttpToolsTransport()) as client:
        message = client.messages.create(**ASK)
        with client.messages.stream(**ASK) as stream:
            text = "".join(stream.text_stream)
    assert isinstance(message.content[0], TextBlock) and text == message.content[0].text
