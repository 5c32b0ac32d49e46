"""Message batches through the official SDK: created, processed after the delay, results, cancel, delete."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Mapping
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from claudegate.simulator import SimulatorConfig, create_app
from claudegate.simulator._batches import BatchStore, rfc3339
from claudegate.testing import LiveServer
from tests.simulator.conftest import Live

MODEL = "claude-opus-4-8"


def params(text: str, **extra: Any) -> Any:
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": text}], **extra}


async def _until_ended(client: anthropic.AsyncAnthropic, batch_id: str) -> Any:
    for _ in range(100):
        batch = await client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        await asyncio.sleep(0.05)
    raise AssertionError("the batch never ended")


async def test_a_batch_runs_to_results(client: anthropic.AsyncAnthropic, server: Live) -> None:
    requests: list[Any] = [
        {"custom_id": "first", "params": params("first question")},
        {"custom_id": "second", "params": params("second question")},
        {"custom_id": "broken", "params": params("third", max_tokens=0)},
    ]
    batch = await client.messages.batches.create(requests=requests)
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None and batch.ended_at is None
    assert batch.request_counts.processing == 3
    assert (batch.expires_at - batch.created_at).total_seconds() == 24 * 3600
    ended = await _until_ended(client, batch.id)
    assert ended.request_counts.to_dict() == {
        "processing": 0,
        "succeeded": 2,
        "errored": 1,
        "canceled": 0,
        "expired": 0,
    }
    assert ended.ended_at is not None and ended.ended_at >= ended.created_at
    results = {line.custom_id: line.result async for line in await client.messages.batches.results(batch.id)}
    assert set(results) == {"first", "second", "broken"}
    first = results["first"]
    assert first.type == "succeeded"
    assert first.message.to_dict() == server.app.simulator.create(params("first question"))
    broken = results["broken"]
    assert broken.type == "errored" and broken.error.error.type == "invalid_request_error"


async def test_a_canceled_batch_ends_with_canceled_requests(client: anthropic.AsyncAnthropic) -> None:
    batch = await client.messages.batches.create(
        requests=[{"custom_id": "only", "params": params("never run")}]
    )
    canceled = await client.messages.batches.cancel(batch.id)
    assert canceled.processing_status == "canceling" and canceled.cancel_initiated_at is not None
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 1
    assert [line.result.type async for line in await client.messages.batches.results(batch.id)] == [
        "canceled"
    ]


async def test_only_ended_batches_can_be_deleted(client: anthropic.AsyncAnthropic) -> None:
    batch = await client.messages.batches.create(requests=[{"custom_id": "a", "params": params("x")}])
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.batches.delete(batch.id)
    await _until_ended(client, batch.id)
    deleted = await client.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.batches.retrieve(batch.id)


async def test_batches_are_listed_newest_first_across_pages(client: anthropic.AsyncAnthropic) -> None:
    made = [
        (await client.messages.batches.create(requests=[{"custom_id": f"n{i}", "params": params("x")}])).id
        for i in range(3)
    ]
    listed = [batch.id async for batch in client.messages.batches.list(limit=2)]
    assert [batch_id for batch_id in listed if batch_id in made] == made[::-1]


async def test_invalid_batches_are_rejected(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="custom_id"):
        await client.messages.batches.create(requests=[{"custom_id": "bad id!", "params": params("x")}])
    twice: list[Any] = [{"custom_id": "same", "params": params("x")}] * 2
    with pytest.raises(anthropic.BadRequestError, match="duplicate"):
        await client.messages.batches.create(requests=twice)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def batch_body(count: int) -> dict[str, Any]:
    return {"requests": [{"custom_id": f"r{i}", "params": params(f"question {i}")} for i in range(count)]}


def test_only_requests_that_are_due_run_and_each_runs_once() -> None:
    ran: list[str] = []

    def create(request: Any) -> dict[str, Any]:
        ran.append(request["messages"][0]["content"])
        return {"type": "message"}

    clock = FakeClock()
    store = BatchStore(create, delay=10.0, clock=clock)
    batch = store.create(batch_body(1000), "http://sim")
    clock.now += 2.5
    seen = store.retrieve(batch["id"], "http://sim")
    assert len(ran) == 250  # request i is due at created + 10 * (i + 1) / 1000
    assert seen["processing_status"] == "in_progress" and seen["request_counts"]["processing"] == 1000
    clock.now += 10
    ended = store.retrieve(batch["id"], "http://sim")
    assert ended["processing_status"] == "ended" and ended["request_counts"]["succeeded"] == 1000
    assert ran == [f"question {i}" for i in range(1000)]
    assert ended["ended_at"] == rfc3339(1_010.0)


def test_a_cancel_keeps_what_was_due_and_cancels_the_rest() -> None:
    clock = FakeClock()
    store = BatchStore(lambda request: {"type": "message"}, delay=4.0, clock=clock)
    batch = store.create(batch_body(8), "http://sim")
    clock.now += 1.0
    assert store.cancel(batch["id"], "http://sim")["processing_status"] == "canceling"
    ended = store.retrieve(batch["id"], "http://sim")
    assert ended["request_counts"] == {
        "processing": 0,
        "succeeded": 2,
        "errored": 0,
        "canceled": 6,
        "expired": 0,
    }
    assert ended["ended_at"] == rfc3339(1_001.0)


def test_a_request_the_engine_fails_on_ends_as_an_api_error_and_the_batch_still_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def create(request: Any) -> dict[str, Any]:
        if request["messages"][0]["content"] == "question 1":
            raise RuntimeError("engine bug")
        return {"type": "message"}

    clock = FakeClock()
    store = BatchStore(create, delay=1.0, clock=clock)
    batch = store.create(batch_body(3), "http://sim")
    clock.now += 2
    for _ in range(2):  # and every later look still answers
        assert store.retrieve(batch["id"], "http://sim")["request_counts"]["errored"] == 1
    lines = [orjson.loads(line) for line in store.results(batch["id"]).splitlines()]
    assert [line["result"]["type"] for line in lines] == ["succeeded", "errored", "succeeded"]
    assert lines[1]["result"]["error"] == {
        "type": "error",
        "error": {"type": "api_error", "message": "Internal server error"},
    }
    assert "engine bug" in caplog.text


async def test_settling_a_large_batch_leaves_the_server_answering() -> None:
    app = create_app(SimulatorConfig(batch_delay=0))
    store = app.simulator.batches
    run = store._create
    settling, release = threading.Event(), threading.Event()

    def held(params: Mapping[str, Any]) -> dict[str, Any]:  # the first request run waits for the probe
        if not settling.is_set():
            settling.set()
            assert release.wait(30), "the probe never came"
        return run(params)

    store._create = held
    with LiveServer(app) as server:
        async with aiohttp.ClientSession(server.base_url) as http:
            data = io.BytesIO(orjson.dumps(batch_body(20_000)))
            headers = {"content-type": "application/json"}
            async with http.post("/v1/messages/batches", data=data, headers=headers) as response:
                batch_id = (await response.json())["id"]

            async def retrieve() -> dict[str, Any]:
                async with http.get(f"/v1/messages/batches/{batch_id}") as response:
                    body: dict[str, Any] = await response.json()
                    return body

            settled = asyncio.create_task(retrieve())
            try:
                assert await asyncio.to_thread(settling.wait, 30), "the batch never settled"
                async with http.get("/") as probe:  # answered while the settling holds a request
                    assert probe.status == 200
                async with http.get("/v1/models") as probe:
                    assert probe.status == 200
                assert not settled.done()
            finally:
                release.set()
            batch = await settled
    assert batch["processing_status"] == "ended" and batch["request_counts"]["succeeded"] == 20_000
