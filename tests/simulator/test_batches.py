"""Message batches through the official SDK: created, processed after the delay, results, cancel, delete."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest

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
