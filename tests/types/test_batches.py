"""Batch objects and result lines, as the batches endpoints return them, parse and round-trip."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from claudegate.types import (
    BatchCanceled,
    BatchErrored,
    BatchExpired,
    BatchResult,
    BatchSucceeded,
    MessageBatch,
    MessageBatchCreateParams,
    MessageBatchPage,
    MessageCreateParams,
    TextBlock,
    UnknownBatchOutcome,
    WireModel,
)

BATCH: dict[str, Any] = {
    "id": "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message_batch",
    "archived_at": None,
    "cancel_initiated_at": None,
    "created_at": "2024-08-20T18:37:24.100435Z",
    "ended_at": "2024-08-20T18:42:01.000000Z",
    "expires_at": "2024-08-21T18:37:24.100435Z",
    "processing_status": "ended",
    "request_counts": {"processing": 0, "succeeded": 99, "errored": 1, "canceled": 0, "expired": 0},
    "results_url": "https://api.anthropic.com/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results",
}

RESULT_LINES: list[dict[str, Any]] = [
    {
        "custom_id": "b",
        "result": {
            "type": "errored",
            "error": {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": "max_tokens: required"},
            },
        },
    },
    {
        "custom_id": "a",
        "result": {
            "type": "succeeded",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": "Hi"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 9, "output_tokens": 2},
            },
        },
    },
    {"custom_id": "c", "result": {"type": "canceled"}},
    {"custom_id": "d", "result": {"type": "expired"}},
    {"custom_id": "e", "result": {"type": "deferred", "until": "2024-08-22T00:00:00Z"}},
]
# The results endpoint answers JSON lines, in any order.
RESULTS_JSONL = b"\n".join(orjson.dumps(line) for line in RESULT_LINES) + b"\n"


def test_batch_round_trips_and_reads() -> None:
    batch = MessageBatch.model_validate(BATCH)
    assert batch.processing_status == "ended"
    assert batch.request_counts.succeeded == 99
    assert batch.ended_at == "2024-08-20T18:42:01.000000Z"
    assert batch.to_dict() == BATCH


def test_new_processing_status_parses() -> None:
    payload = {**BATCH, "processing_status": "paused", "priority": "low"}
    batch = MessageBatch.model_validate(payload)
    assert batch.processing_status == "paused"
    assert batch.to_dict() == payload


def test_batch_page() -> None:
    page = {"data": [BATCH], "has_more": True, "first_id": BATCH["id"], "last_id": BATCH["id"]}
    parsed = MessageBatchPage.model_validate(page)
    assert parsed.has_more and parsed.data[0].id == BATCH["id"]
    assert parsed.to_dict() == page


@pytest.mark.parametrize(
    ("custom_id", "outcome_class"),
    [
        ("a", BatchSucceeded),
        ("b", BatchErrored),
        ("c", BatchCanceled),
        ("d", BatchExpired),
        ("e", UnknownBatchOutcome),
    ],
)
def test_each_result_line_kind(custom_id: str, outcome_class: type[WireModel]) -> None:
    lines = {}
    for line in RESULTS_JSONL.splitlines():
        decoded = orjson.loads(line)
        lines[decoded["custom_id"]] = decoded
    result = BatchResult.model_validate(lines[custom_id])
    assert type(result.result) is outcome_class
    assert result.to_dict() == lines[custom_id]


def test_result_payloads_are_typed() -> None:
    succeeded, errored = (
        BatchResult.model_validate(orjson.loads(line)) for line in RESULTS_JSONL.splitlines()[1::-1]
    )
    assert isinstance(succeeded.result, BatchSucceeded)
    assert isinstance(succeeded.result.message.content[0], TextBlock)
    assert isinstance(errored.result, BatchErrored)
    assert errored.result.error.error.type == "invalid_request_error"


def test_create_params_by_hand() -> None:
    params = MessageBatchCreateParams(
        requests=[
            {
                "custom_id": "a",
                "params": MessageCreateParams(
                    model="m", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
                ),
            }
        ]
    )
    assert params.to_dict() == {
        "requests": [
            {
                "custom_id": "a",
                "params": {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]},
            }
        ]
    }
