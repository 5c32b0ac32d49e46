from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator

from claudegate.client import AsyncClient, MockResponse, MockTransport, Request
from claudegate.gateway import create_app as create_gateway
from claudegate.simulator import create_app
from claudegate.testing import LiveServer
from claudegate.tools import (
    InMemoryToolMetrics,
    ModelEvent,
    RunFinished,
    ToolCallFinished,
    ToolCallStarted,
    ToolExecutor,
    ToolRegistry,
    ToolRunner,
    tool,
)

MODEL = "claude-sonnet-4-5"


@tool
async def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: City name.
    """
    await asyncio.sleep(0.2)
    return f"sunny in {city}"


@tool
async def get_time(zone: str) -> str:
    """Current time in a zone."""
    await asyncio.sleep(0.2)
    return f"noon in {zone}"


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    with LiveServer(create_app()) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    with LiveServer(create_gateway()) as server:
        yield server.base_url


@pytest.fixture
async def client(simulator_url: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(api_key="sk-test-000000", base_url=simulator_url) as c:
        yield c


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_the_loop_runs_parallel_tools_and_finishes_with_text(client: AsyncClient) -> None:
    metrics = InMemoryToolMetrics()
    registry = ToolRegistry([get_weather, get_time])
    runner = ToolRunner(client, registry, executor=ToolExecutor(registry, metrics=metrics))
    started = time.perf_counter()
    result = await runner.run(
        model=MODEL, max_tokens=512, messages=user("use get_weather and get_time for Paris")
    )
    elapsed = time.perf_counter() - started
    assert result.stop == "end_turn" and result.iterations == 2
    assert [r.name for r in result.tool_results] == ["get_weather", "get_time"]
    assert result.tool_results[0].content.startswith("sunny in ")
    assert elapsed < 0.35 + 0.3  # the two 0.2 s tools overlapped
    roles = [m["role"] for m in result.messages]
    assert roles == ["user", "assistant", "user", "assistant"]
    tool_uses = [b for b in result.messages[1]["content"] if b["type"] == "tool_use"]
    returned = [b["tool_use_id"] for b in result.messages[2]["content"]]
    assert returned == [b["id"] for b in tool_uses]
    assert result.text and result.usage.requests == 2
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert metrics.stats["get_weather"].calls == 1


async def test_max_iterations_is_a_clear_outcome(client: AsyncClient) -> None:
    runner = ToolRunner(client, ToolRegistry([get_time]))
    result = await runner.run(
        model=MODEL,
        max_tokens=256,
        messages=user("get_time please"),
        tool_choice={"type": "any"},
        max_iterations=3,
    )
    assert result.stop == "max_iterations" and result.iterations == 3
    assert result.message.stop_reason == "tool_use" and len(result.tool_results) == 3


async def test_max_tokens_stops_cleanly(client: AsyncClient) -> None:
    runner = ToolRunner(client, ToolRegistry([get_time]))
    result = await runner.run(model=MODEL, max_tokens=3, messages=user("tell me a long story about cats"))
    assert result.stop == "max_tokens" and result.iterations == 1 and result.tool_results == []


async def test_refusal_stops_cleanly() -> None:
    def handler(request: Request) -> MockResponse:
        return MockResponse.json(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [{"type": "text", "text": "I can't help with that."}],
                "stop_reason": "refusal",
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 6},
            }
        )

    async with AsyncClient(api_key="sk-test-000000", transport=MockTransport(handler)) as client:
        result = await ToolRunner(client, ToolRegistry([get_time])).run(
            model=MODEL, max_tokens=64, messages=user("get_time")
        )
    assert result.stop == "refusal" and result.text == "I can't help with that."
    assert result.usage.output_tokens == 6


async def test_invalid_model_arguments_go_back_as_is_error(client: AsyncClient) -> None:
    # The simulator satisfies the schema; a stricter Python-side tool refuses every value.
    strict = tool(name="lookup")(_only_xyz)
    runner = ToolRunner(client, ToolRegistry([strict]))
    result = await runner.run(model=MODEL, max_tokens=256, messages=user("call lookup"))
    (failed,) = result.tool_results
    assert (
        failed.is_error
        and failed.outcome == "invalid"
        and failed.content.startswith("invalid arguments: code")
    )
    assert result.messages[2]["content"][0]["is_error"] is True
    assert result.stop == "end_turn"


def _check_code(value: str) -> str:
    if value != "XYZ-0":
        raise ValueError("must be XYZ-0")
    return value


_Code = Annotated[str, AfterValidator(_check_code)]


async def _only_xyz(code: _Code) -> str:
    """Look up a code."""
    return code


async def test_stream_yields_model_and_tool_events(client: AsyncClient) -> None:
    runner = ToolRunner(client, ToolRegistry([get_weather, get_time]))
    events = [
        event
        async for event in runner.stream(
            model=MODEL, max_tokens=512, messages=user("get_weather and get_time in Rome")
        )
    ]
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("ToolCallStarted") == 2 and kinds.count("ToolCallFinished") == 2
    assert isinstance(events[-1], RunFinished) and kinds.count("RunFinished") == 1
    model_events = [e.event["type"] for e in events if isinstance(e, ModelEvent)]
    assert model_events.count("message_start") == 2 and model_events.count("message_stop") == 2
    first_start = kinds.index("ToolCallStarted")
    # The first call starts while the model is still streaming (before that turn's message_stop).
    assert "message_stop" not in [e.event["type"] for e in events[:first_start] if isinstance(e, ModelEvent)]
    started = [e.call.name for e in events if isinstance(e, ToolCallStarted)]
    finished = [e.result.name for e in events if isinstance(e, ToolCallFinished)]
    assert sorted(started) == sorted(finished) == ["get_time", "get_weather"]
    final = events[-1].result
    assert final.stop == "end_turn" and final.text
    assert [r.name for r in final.tool_results] == started


async def test_the_loop_works_through_the_gateway(gateway_url: str) -> None:
    async with AsyncClient(api_key="sk-test-000000", base_url=gateway_url) as client:
        runner = ToolRunner(client, ToolRegistry([get_weather]))
        result = await runner.run(model=MODEL, max_tokens=256, messages=user("get_weather for Oslo"))
        streamed = [
            e async for e in runner.stream(model=MODEL, max_tokens=256, messages=user("get_weather for Oslo"))
        ]
    assert result.stop == "end_turn" and result.tool_results[0].content.startswith("sunny in ")
    last = streamed[-1]
    assert isinstance(last, RunFinished) and last.result.stop == "end_turn"
    assert last.result.tool_results[0].content == result.tool_results[0].content
