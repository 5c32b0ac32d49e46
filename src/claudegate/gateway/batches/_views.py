"""What the batch APIs show: a Message Batch and its result lines (Anthropic), a batch and its
output and error file lines (OpenAI), from a batch's record and its jobs."""

from __future__ import annotations

from typing import Any

from claudegate.gateway.batches._records import Batch
from claudegate.gateway.jobs import GroupCounts, Job, timestamp

__all__ = [
    "ARCHIVE_AFTER",
    "message_batch_json",
    "message_result",
    "openai_batch_json",
    "openai_line",
    "results_url",
    "usage_totals",
]

ARCHIVE_AFTER = 29 * 24 * 3600.0
"""Results are kept this long after a Message Batch's creation, then it is archived."""


def _expired(batch: Batch) -> bool:
    """Whether the jobs canceled at the end were canceled by the window running out (not by the caller)."""
    expired, canceled = batch.expired_at, batch.cancel_initiated_at
    return expired is not None and (canceled is None or expired < canceled)


def results_url(base_url: str, batch: Batch) -> str:
    return f"{base_url}/v1/messages/batches/{batch.id}/results"


def message_batch_json(batch: Batch, counts: GroupCounts, base_url: str, now: float) -> dict[str, Any]:
    """A ``message_batch`` (``anthropic.types.messages.MessageBatch``). Every request counts as
    ``processing`` until the whole batch has ended, as on the API."""
    ended = batch.ended_at is not None
    request_counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if not ended:
        request_counts["processing"] = batch.request_count
        status = "canceling" if batch.cancel_initiated_at is not None else "in_progress"
    else:
        request_counts["succeeded"] = counts.succeeded
        request_counts["errored"] = counts.failed
        request_counts["expired" if _expired(batch) else "canceled"] = counts.canceled
        status = "ended"
    archived = now >= batch.created_at + ARCHIVE_AFTER
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": request_counts,
        "ended_at": timestamp(batch.ended_at),
        "created_at": timestamp(batch.created_at),
        "expires_at": timestamp(batch.expires_at),
        "archived_at": timestamp(batch.created_at + ARCHIVE_AFTER) if archived else None,
        "cancel_initiated_at": timestamp(batch.cancel_initiated_at),
        "results_url": results_url(base_url, batch) if ended and not archived else None,
    }


def message_result(batch: Batch, job: Job) -> dict[str, Any]:
    """One line of a Message Batch's results."""
    result: dict[str, Any]
    if job.status == "succeeded":
        result = {"type": "succeeded", "message": job.result}
    elif job.status == "failed":
        result = {"type": "errored", "error": (job.error or {}).get("body")}
    else:
        result = {"type": "expired" if _expired(batch) else "canceled"}
    return {"custom_id": job.custom_id, "result": result}


def _unix(seconds: float | None) -> int | None:
    return int(seconds) if seconds is not None else None


def _openai_status(batch: Batch) -> str:
    if batch.details.get("errors"):
        return "failed"
    if batch.ended_at is None:
        return "cancelling" if batch.cancel_initiated_at is not None else "in_progress"
    if _expired(batch):
        return "expired"
    return "cancelled" if batch.cancel_initiated_at is not None else "completed"


def openai_batch_json(batch: Batch, counts: GroupCounts) -> dict[str, Any]:
    """A ``batch`` (``openai.types.Batch``); its counts move as requests end."""
    details = batch.details
    status = _openai_status(batch)
    ended = batch.ended_at
    cancelling = batch.cancel_initiated_at
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": details.get("endpoint"),
        "model": details.get("model"),
        "errors": details.get("errors"),
        "input_file_id": details.get("input_file_id"),
        "completion_window": details.get("completion_window", "24h"),
        "status": status,
        "output_file_id": details.get("output_file_id"),
        "error_file_id": details.get("error_file_id"),
        "created_at": int(batch.created_at),
        "in_progress_at": _unix(batch.created_at) if status != "failed" else None,
        "expires_at": int(batch.expires_at),
        "finalizing_at": _unix(ended) if status == "completed" else None,
        "completed_at": _unix(ended) if status == "completed" else None,
        "failed_at": _unix(ended) if status == "failed" else None,
        "expired_at": _unix(batch.expired_at) if status == "expired" else None,
        "cancelling_at": _unix(cancelling),
        "cancelled_at": _unix(ended) if status == "cancelled" else None,
        "request_counts": {
            "total": batch.request_count,
            "completed": counts.succeeded,
            "failed": counts.failed + (counts.canceled if ended is not None else 0),
        },
        "usage": details.get("usage"),
        "metadata": details.get("metadata"),
    }


def openai_line(batch: Batch, job: Job) -> tuple[bool, dict[str, Any]]:
    """One request's line, and whether it belongs in the output file (else the error file)."""
    line_id = "batch_req_" + job.id[4:]
    request_id = f"req_{job.id[4:]}_{job.attempts}"
    if job.status == "succeeded":
        response = {"status_code": 200, "request_id": request_id, "body": job.result}
        return True, {"id": line_id, "custom_id": job.custom_id, "response": response, "error": None}
    if job.status == "failed":
        error = job.error or {}
        response = {
            "status_code": error.get("status", 500),
            "request_id": request_id,
            "body": error.get("body"),
        }
        return False, {"id": line_id, "custom_id": job.custom_id, "response": response, "error": None}
    if _expired(batch):
        code, message = (
            "batch_expired",
            "This request could not be executed before the completion window expired.",
        )
    else:
        code, message = "batch_cancelled", "This request was not executed because the batch was cancelled."
    return False, {
        "id": line_id,
        "custom_id": job.custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }


_USAGE_KEYS = (
    ("input", ("input_tokens", "prompt_tokens")),
    ("output", ("output_tokens", "completion_tokens")),
    ("cached", ("cache_read_input_tokens",)),
)


def usage_totals(jobs: list[Job]) -> dict[str, Any]:
    """OpenAI's ``usage`` of a batch: its succeeded requests' tokens summed."""
    totals = {"input": 0, "output": 0, "cached": 0, "reasoning": 0}
    for job in jobs:
        usage = job.usage or {}
        if job.status != "succeeded":
            continue
        for name, keys in _USAGE_KEYS:
            value = next((usage[key] for key in keys if isinstance(usage.get(key), int)), 0)
            totals[name] += value
    return {
        "input_tokens": totals["input"],
        "input_tokens_details": {"cached_tokens": totals["cached"]},
        "output_tokens": totals["output"],
        "output_tokens_details": {"reasoning_tokens": totals["reasoning"]},
        "total_tokens": totals["input"] + totals["output"],
    }
