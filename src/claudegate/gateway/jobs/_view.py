"""A job as its owner reads it (``GET /v1/jobs/{id}``, a webhook's ``data``, the CLI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from claudegate.gateway.jobs._deliveries import Delivery
from claudegate.gateway.jobs._model import Job

__all__ = ["delivery_json", "job_json", "timestamp"]


def timestamp(seconds: float | None) -> str | None:
    """RFC 3339 UTC time of ``seconds`` since the epoch."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def job_json(job: Job) -> dict[str, Any]:
    """The job's state; its ``result`` (in the job's dialect) once it succeeded, its ``error``
    envelope once it failed."""
    view: dict[str, Any] = {
        "id": job.id,
        "type": "job",
        "status": job.status,
        "dialect": job.dialect,
        "model": job.request.get("model"),
        "priority": job.priority_name,
        "attempts": job.attempts,
        "created_at": timestamp(job.created_at),
        "started_at": timestamp(job.started_at),
        "finished_at": timestamp(job.finished_at),
        "metadata": job.metadata or {},
    }
    if job.custom_id is not None:
        view["custom_id"] = job.custom_id
    if job.webhook_url is not None:
        view["webhook"] = {"url": job.webhook_url}
    if job.status == "succeeded":
        view["result"] = job.result
        view["usage"] = job.usage or {}
        view["cost"] = job.cost or 0.0
    if job.error is not None and job.status != "succeeded":
        view["error"] = job.error.get("body")
        view["error_status"] = job.error.get("status")
    return view


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    """A delivery and its attempts."""
    return {
        "webhook_id": delivery.id,
        "type": "webhook_delivery",
        "event_type": delivery.event_type,
        "url": delivery.url,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": timestamp(delivery.created_at),
        "next_attempt_at": timestamp(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "log": delivery.log,
    }
