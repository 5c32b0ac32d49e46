"""Our client against the simulator over a real socket: calls, retries, faults, timeouts."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest

from claudegate.client import AsyncClient, Client, RetryPolicy, Timeout
from claudegate.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    RateLimitError,
)
from claudegate.simulator import SimulatorApp, SimulatorConfig, create_app
from claudegate.testing import LiveServer
from claudegate.types import TextBlock, ToolUseBlock

KEY = "sk-ant-sim-test-000000"
MODEL = "claude-sonnet-5"
ASK: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "Describe the harbour lights at dusk"}],
}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit"],
    },
}
FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.05, random=lambda: 0.0)


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[SimulatorApp, str]]:
    app = create_app(SimulatorConfig(batch_delay=0.2, stall_timeout=5.0))
    with LiveServer(app) as server:
        yield app, server.base_url


@pytest.fixture
async def client(sim: tuple[SimulatorApp, str]) -> AsyncIterator[AsyncClient]:
    app, base_url = sim
    app.simulator.log.clear()
    app.simulator.faults.reset()
    async with AsyncClient(api_key=KEY, base_url=base_url) as c:
        yield c


def attempts_logged(sim: tuple[SimulatorApp, str], path: str = "/v1/messages") -> list[dict[str, Any]]:
    return [e for e in sim[0].simulator.log.entries() if e["path"] == path]


def gaps(entries: list[dict[str, Any]]) -> list[float]:
    return [b["time"] - a["time"] for a, b in itertools.pairwise(entries)]


async def test_create_returns_a_typed_message(client: AsyncClient) -> None:
    message = await client.messages.create(**ASK)
    assert message.role == "assistant" and message.stop_reason == "end_turn"
    assert isinstance(message.content[0], TextBlock) and "harbour" in message.content[0].text
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


async def test_stream_with_tools_matches_the_official_sdk(
    client: AsyncClient, sim: tuple[SimulatorApp, str]
) -> None:
    args: dict[str, Any] = {
        **ASK,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [{"role": "user", "content": "What is the weather in Lisbon?"}],
    }
    async with client.messages.stream(**args) as stream:
        ours = await stream.get_final_message()
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=sim[1], max_retries=0) as sdk:
        async with sdk.messages.stream(**args) as sdk_stream:
            theirs = await sdk_stream.get_final_message()
    tool_use = ours.content[-1]
    assert isinstance(tool_use, ToolUseBlock) and tool_use.name == "get_weather"
    assert tool_use.input["unit"] in ("celsius", "fahrenheit") and len(tool_use.input["city"]) >= 2
    assert ours.stop_reason == theirs.stop_reason == "tool_use"
    assert [b.to_dict() for b in ours.content] == [b.to_dict() for b in theirs.content]
    assert ours.usage.output_tokens == theirs.usage.output_tokens
    # the JSON path gives the same message as the stream
    created = await client.messages.create(**args)
    assert [b.to_dict() for b in created.content] == [b.to_dict() for b in ours.content]


async def test_count_tokens_agrees_with_usage(client: AsyncClient) -> None:
    counted = await client.messages.count_tokens(model=MODEL, messages=ASK["messages"])
    message = await client.messages.create(**ASK)
    assert counted.input_tokens == message.usage.input_tokens


async def test_models_auto_paginate(client: AsyncClient) -> None:
    paginator = client.models.list(limit=2)
    models = await paginator.to_list()
    assert len(models) >= 5 and paginator.pages_fetched >= 3
    assert len({m.id for m in models}) == len(models)
    assert (await client.models.retrieve(models[0].id)).id == models[0].id
    with pytest.raises(NotFoundError):
        await client.models.retrieve("claude-no-such-model")


async def test_batch_runs_to_results(client: AsyncClient) -> None:
    requests = [
        {"custom_id": f"req-{i}", "params": {**ASK, "messages": [{"role": "user", "content": f"Item {i}"}]}}
        for i in range(3)
    ]
    batch = await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert batch.processing_status == "in_progress"
    deadline = time.monotonic() + 5
    while batch.processing_status != "ended" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        batch = await client.messages.batches.retrieve(batch.id)
    assert batch.processing_status == "ended" and batch.request_counts.succeeded == 3
    async with await client.messages.batches.results(batch.id) as stream:
        results = [r async for r in stream]
    assert sorted(r.custom_id for r in results) == ["req-0", "req-1", "req-2"]
    assert all(r.result.type == "succeeded" for r in results)
    listed = [b.id async for b in client.messages.batches.list(limit=1)]
    assert batch.id in listed
    await client.messages.batches.delete(batch.id)
    with pytest.raises(NotFoundError):
        await client.messages.batches.retrieve(batch.id)


async def test_backoff_delays_follow_the_policy(client: AsyncClient, sim: tuple[SimulatorApp, str]) -> None:
    message = await client.messages.create(
        **ASK, retry=FAST_RETRY, extra_headers={"x-sim-fault": "500;times=2"}
    )
    assert message.stop_reason == "end_turn"
    entries = attempts_logged(sim)
    assert [e["status"] for e in entries] == [500, 500, 200]
    first, second = gaps(entries)
    assert 0.05 <= first < 0.05 + 0.2
    assert 0.10 <= second < 0.10 + 0.2


@pytest.mark.parametrize(("header", "wait"), [("retry-after=1", 1.0), ("retry-after-ms=400", 0.4)])
async def test_retry_after_is_honoured(
    client: AsyncClient, sim: tuple[SimulatorApp, str], header: str, wait: float
) -> None:
    await client.messages.create(
        **ASK, retry=FAST_RETRY, extra_headers={"x-sim-fault": f"429;{header};times=1"}
    )
    (gap,) = gaps(attempts_logged(sim))
    assert wait <= gap < wait + 0.3


async def test_exhausted_retries_raise_with_the_attempt_count(
    client: AsyncClient, sim: tuple[SimulatorApp, str]
) -> None:
    with pytest.raises(OverloadedError) as info:
        await client.messages.create(
            **ASK,
            retry=RetryPolicy(max_retries=2, initial_delay=0.01, max_retry_after=0.01),
            extra_headers={"x-sim-fault": "529;retry-after=1"},
        )
    assert info.value.attempts == 3 and info.value.request_id
    assert len(attempts_logged(sim)) == 3


async def test_should_retry_false_and_client_errors_are_not_retried(
    client: AsyncClient, sim: tuple[SimulatorApp, str]
) -> None:
    with pytest.raises(InternalServerError):
        await client.messages.create(
            **ASK, retry=FAST_RETRY, extra_headers={"x-sim-fault": "500;should-retry=false"}
        )
    with pytest.raises(RateLimitError):
        await client.messages.create(**ASK, extra_headers={"x-sim-fault": "429"})  # no policy: no retry
    assert len(attempts_logged(sim)) == 2


async def test_reset_before_headers_is_retried_then_surfaces(
    client: AsyncClient, sim: tuple[SimulatorApp, str]
) -> None:
    message = await client.messages.create(
        **ASK, retry=FAST_RETRY, extra_headers={"x-sim-fault": "reset-before;times=1"}
    )
    assert message.stop_reason == "end_turn"
    with pytest.raises(APIConnectionError) as info:
        await client.messages.create(**ASK, retry=FAST_RETRY, extra_headers={"x-sim-fault": "reset-before"})
    assert info.value.attempts == 3


async def test_stream_is_retried_only_before_its_first_byte(
    client: AsyncClient, sim: tuple[SimulatorApp, str]
) -> None:
    async with client.messages.stream(
        **ASK, retry=FAST_RETRY, extra_headers={"x-sim-fault": "529;retry-after-ms=50;times=1"}
    ) as stream:
        assert (await stream.get_final_message()).stop_reason == "end_turn"
        assert stream.attempts == 2
    sim[0].simulator.log.clear()
    started = time.monotonic()
    with pytest.raises(OverloadedError):
        async with client.messages.stream(
            **ASK, retry=FAST_RETRY, extra_headers={"x-sim-fault": "error-mid:3"}
        ) as stream:
            await stream.until_done()
    assert time.monotonic() - started < 2
    assert len(attempts_logged(sim)) == 1  # an error after the first byte is never retried


async def test_cut_stream_surfaces_within_a_bound(client: AsyncClient) -> None:
    started = time.monotonic()
    with pytest.raises(APIConnectionError):
        async with client.messages.stream(**ASK, extra_headers={"x-sim-fault": "reset-mid:3"}) as stream:
            await stream.until_done()
    assert time.monotonic() - started < 2


async def test_timeouts_fire(client: AsyncClient) -> None:
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        await client.messages.create(
            **ASK, timeout=Timeout(total=0.5, connect=1, read=5), extra_headers={"x-sim-fault": "stall"}
        )
    assert 0.4 < time.monotonic() - started < 2
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        async with client.messages.stream(
            **ASK, timeout=Timeout(total=5, connect=1, read=0.3), extra_headers={"x-sim-fault": "stall"}
        ) as stream:
            await stream.until_done()
    assert time.monotonic() - started < 2


def test_sync_client_end_to_end(sim: tuple[SimulatorApp, str]) -> None:
    with Client(api_key=KEY, base_url=sim[1]) as client:
        message = client.messages.create(**ASK)
        with client.messages.stream(**ASK) as stream:
            text = "".join(stream.text_stream)
        assert isinstance(message.content[0], TextBlock) and text == message.content[0].text
        assert len(client.models.list(limit=3).to_list()) >= 5


async def test_wrong_key_is_an_authentication_error() -> None:
    with LiveServer(create_app(SimulatorConfig(api_keys=("sk-right-key-0001",)))) as server:
        async with AsyncClient(api_key="sk-wrong-key-0001", base_url=server.base_url) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.messages.create(**ASK)
        async with AsyncClient(
            api_key="sk-right-key-0001", base_url=server.base_url, auth="bearer"
        ) as client:
            assert (await client.messages.create(**ASK)).stop_reason == "end_turn"
    assert "sk-wrong-key-0001" not in str(info.value)


FAULT_ERRORS: list[tuple[str, type[Exception]]] = [
    ("429", RateLimitError),
    ("529", OverloadedError),
    ("500", InternalServerError),
    ("400", BadRequestError),
    ("reset-before", APIConnectionError),
    ("reset-mid:2", APIConnectionError),
    ("error-mid:2", OverloadedError),
    ("stall", APITimeoutError),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("fault", "error"), FAULT_ERRORS, ids=[f for f, _ in FAULT_ERRORS])
async def test_each_fault_raises_its_error_class_without_retry(
    client: AsyncClient, sim: tuple[SimulatorApp, str], fault: str, error: type[Exception], stream: bool
) -> None:
    options: dict[str, Any] = {
        "extra_headers": {"x-sim-fault": fault},
        "timeout": Timeout(total=0.5, read=0.5),
    }
    started = time.monotonic()
    with pytest.raises(error):
        if stream:
            async with client.messages.stream(**ASK, **options) as s:
                await s.until_done()
        else:
            await client.messages.create(**ASK, **options)
    assert time.monotonic() - started < 2
    assert len(attempts_logged(sim)) == 1
