"""What an event is on the way in (``POST /v1/events``, ``EventBus.publish``) and how its state
reads: the status of each pipeline run and of the event as a whole."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from claudegate.gateway.core import GatewayError, shown
from claudegate.gateway.jobs import PRIORITIES, Job, timestamp

__all__ = [
    "MAX_EVENTS",
    "Event",
    "event_group",
    "event_owner",
    "events_of",
    "run_json",
    "run_status",
    "status_of",
]

MAX_EVENTS = 1000
"""Events in one ``POST /v1/events``."""

_KEYS = frozenset({"type", "id", "payload", "priority"})
_ORDER = ("dead", "failed", "running", "queued", "processed")


@dataclass(frozen=True, slots=True)
class Event:
    """One event: its type, its id (given, or made), its payload (JSON data) and an optional
    priority overriding its pipelines'."""

    type: str
    id: str
    payload: Any = None
    priority: str | None = None

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "payload": self.payload}


def _bad(message: str, field: str) -> GatewayError:
    return GatewayError(400, "invalid_request_error", f"{field}: {message}", param=field)


def _event(value: Any, where: str) -> Event:
    if not isinstance(value, dict):
        raise _bad("must be an object with a type", where or "body")
    prefix = f"{where}." if where else ""
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise _bad("unknown field", prefix + shown(unknown[0]))
    kind = value.get("type")
    if not isinstance(kind, str) or not 1 <= len(kind) <= 200:
        raise _bad("must be a string of 1 to 200 characters", prefix + "type")
    event_id = value.get("id")
    if event_id is None:
        event_id = "ev_" + os.urandom(12).hex()
    elif not isinstance(event_id, str) or not 1 <= len(event_id) <= 200:
        raise _bad("must be a string of 1 to 200 characters", prefix + "id")
    elif "/" in event_id or event_id == "dead":
        raise _bad("must not contain / nor be dead (its URL would be another route's)", prefix + "id")
    priority = value.get("priority")
    if priority is not None and (not isinstance(priority, str) or priority not in PRIORITIES):
        raise _bad("must be one of high, medium, low", prefix + "priority")
    return Event(kind, event_id, value.get("payload"), priority)


def events_of(body: dict[str, Any]) -> list[Event]:
    """The events of a request body: one event, or ``{"events": [...]}``; a 400 naming the field."""
    if "events" not in body:
        return [_event(body, "")]
    items = body["events"]
    if set(body) != {"events"}:
        raise _bad("unknown field next to events", shown(sorted(set(body) - {"events"})[0]))
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_EVENTS:
        raise _bad(f"must be a list of 1 to {MAX_EVENTS} events", "events")
    events = [_event(item, f"events[{index}]") for index, item in enumerate(items)]
    seen: set[str] = set()
    for index, event in enumerate(events):
        if event.id in seen:
            raise _bad(f"event id {shown(event.id)!r} is sent twice", f"events[{index}].id")
        seen.add(event.id)
    return events


def event_owner(owner: str) -> str:
    """The job owner of an owner's event runs: apart from its ``/v1/jobs``, 40 characters."""
    return "evt_" + hashlib.sha256(owner.encode()).hexdigest()[:36]


def event_group(owner: str, event_id: str) -> str:
    """The job group of one event's runs."""
    return "evt_" + hashlib.sha256(f"{owner}\0{event_id}".encode()).hexdigest()[:40]


def run_status(job: Job) -> str:
    """queued | running | failed (its last attempt failed; a retry is due) | processed | dead."""
    if job.status == "succeeded":
        return "processed"
    if job.status in ("failed", "canceled"):
        return "dead"
    if job.status == "queued" and job.error is not None:
        return "failed"
    return job.status


def status_of(runs: list[Job]) -> str:
    """An event's status: its least advanced run's (an event no pipeline takes is processed)."""
    statuses = {run_status(job) for job in runs}
    return next((status for status in _ORDER if status in statuses), "processed")


def run_json(job: Job) -> dict[str, Any]:
    """One pipeline run of an event as its owner reads it."""
    metadata = job.metadata or {}
    view: dict[str, Any] = {
        "run_id": job.id,
        "pipeline": metadata.get("pipeline"),
        "status": run_status(job),
        "priority": job.priority_name,
        "attempts": job.attempts,
        "started_at": timestamp(job.started_at),
        "finished_at": timestamp(job.finished_at),
    }
    if job.error is not None and job.status != "succeeded":
        body = job.error.get("body")
        error = body.get("error") if isinstance(body, dict) else None
        view["error"] = error if isinstance(error, dict) else body
    return view
