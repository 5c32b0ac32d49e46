"""The message built here equals the one the official ``anthropic`` SDK's stream helpers build,
fed the same recorded streams: directly, and end to end over a real socket."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import httpx2
import pytest
from anthropic.lib.streaming._beta_messages import accumulate_event as beta_accumulate_event
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from anthropic.types.beta import BetaRawMessageStreamEvent
from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from claudegate.sse import MessageAccumulator, aiter_sse
from claudegate.testing import LiveServer
from tests.sse._streams import FIXTURE_NAMES, decode_chunks, fixture_bytes

BETA_EVENTS: TypeAdapter[BetaRawMessageStreamEvent] = TypeAdapter(BetaRawMessageStreamEvent)
EVENTS: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)

# Streams that use only what the stable (non-beta) helper knows: no compaction, fallback,
# fallback credit or usage iterations.
STABLE_FIXTURES = [
    "basic_response.txt",
    "incomplete_partial_json_response.txt",
    "refusal_response.txt",
    "tool_use_response.txt",
]


def recorded_events(name: str) -> list[dict[str, Any]]:
    return [event.json() for event in decode_chunks([fixture_bytes(name)])]


def ours(events: list[dict[str, Any]]) -> dict[str, Any]:
    accumulator = MessageAccumulator()
    for event in events:
        accumulator.feed(event)
    return accumulator.message


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_same_message_as_the_sdk_beta_stream_helper(name: str) -> None:
    events = recorded_events(name)
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        if event["type"] != "ping":
            snapshot = beta_accumulate_event(
                event=BETA_EVENTS.validate_python(event),
                current_snapshot=snapshot,
                json_bufs=buffers,
                request_headers=httpx2.Headers(),
            )
    assert snapshot is not None
    assert ours(events) == snapshot.to_dict()


@pytest.mark.parametrize("name", STABLE_FIXTURES)
def test_same_message_as_the_sdk_stable_stream_helper(name: str) -> None:
    events = recorded_events(name)
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        if event["type"] != "ping":
            snapshot = accumulate_event(
                event=EVENTS.validate_python(event), current_snapshot=snapshot, json_bufs=buffers
            )
    assert snapshot is not None
    assert ours(events) == snapshot.to_dict()


def replay_app(seed: int) -> Starlette:
    """An upstream that replays the recording named in the request's model, in ragged chunks."""

    async def messages(request: Request) -> StreamingResponse:
        body = await request.json()
        raw = fixture_bytes(body["model"])
        rng = random.Random(seed)

        async def chunks() -> AsyncIterator[bytes]:
            start = 0
            while start < len(raw):
                end = start + rng.randint(1, 64)
                yield raw[start:end]
                start = end

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


async def test_over_a_socket_same_message_as_the_official_client() -> None:
    with LiveServer(replay_app(seed=7)) as server:
        client = anthropic.AsyncAnthropic(api_key="test", base_url=server.base_url, max_retries=0)
        async with aiohttp.ClientSession() as session:
            for name in FIXTURE_NAMES:
                async with client.beta.messages.stream(
                    model=name, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
                ) as stream:
                    expected = (await stream.get_final_message()).to_dict()
                body = {"model": name, "max_tokens": 100, "messages": [], "stream": True}
                async with session.post(f"{server.base_url}/v1/messages", json=body) as response:
                    accumulator = MessageAccumulator()
                    async for event in aiter_sse(response.content.iter_any()):
                        accumulator.feed(event.json())
                assert accumulator.done, name
                assert accumulator.message == expected, name
        await client.close()
