"""What a job is: what its submitter asks (``JobSpec``), what the record holds (``Job``), the
counts of a group, and the caller a job runs as (kept at submit time, rebuilt at run time)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from claudegate.gateway.core import GatewayError, Principal

if TYPE_CHECKING:
    from claudegate.store import ApiKey

__all__ = [
    "PRIORITIES",
    "TERMINAL",
    "GroupCounts",
    "Job",
    "JobDialect",
    "JobSpec",
    "JobStatus",
    "KeyReader",
    "new_job_id",
    "principal_from_record",
    "principal_record",
]

JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
JobDialect = Literal["anthropic", "openai"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})
PRIORITIES: dict[str, int] = {"high": 2, "medium": 1, "low": 0}
"""Priority names and their ranks: a higher rank is run first."""


def new_job_id() -> str:
    """A fresh ``job_…`` id (24 random hex digits)."""
    return "job_" + os.urandom(12).hex()


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One request to run later: ``request`` in ``dialect`` (a Messages request, or a Chat
    Completions request for ``openai``), never streamed."""

    request: dict[str, Any]
    dialect: JobDialect = "anthropic"
    priority: str = "medium"
    webhook_url: str | None = None
    metadata: dict[str, Any] | None = None
    custom_id: str | None = None
    """A group member's own name (a batch's ``custom_id``)."""
    group_id: str | None = None
    """Its group, when not the one ``submit`` names for all (one submit may fill several groups)."""


@dataclass(frozen=True, slots=True)
class Job:
    """A job as recorded. ``result`` is the answer in the job's dialect once it succeeded; ``error``
    an error object (``{"status", "type", "message"}``) once it failed."""

    id: str
    owner: str
    dialect: JobDialect
    request: dict[str, Any]
    priority: int
    status: JobStatus
    attempts: int
    created_at: float
    next_attempt_at: float
    started_at: float | None = None
    finished_at: float | None = None
    group_id: str | None = None
    custom_id: str | None = None
    result: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    cost: float | None = None
    error: dict[str, Any] | None = None
    webhook_url: str | None = None
    metadata: dict[str, Any] | None = None
    caller: dict[str, Any] | None = None
    """Who submitted it (``principal_record``) and the request headers kept for its upstream."""

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def priority_name(self) -> str:
        return next((name for name, rank in PRIORITIES.items() if rank == self.priority), "medium")


@dataclass(frozen=True, slots=True)
class GroupCounts:
    """How many of a group's jobs are in each state."""

    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.running + self.succeeded + self.failed + self.canceled

    @property
    def done(self) -> bool:
        """Every job has ended."""
        return self.queued == 0 and self.running == 0


def principal_record(principal: Principal) -> dict[str, Any]:
    """What a job keeps of its submitter: the key's id (its limits and budget are read again when
    it runs), or a token's subject and the models, limits and budget its claims gave."""
    record: dict[str, Any] = {"digest": principal.credential_digest}
    if principal.key is not None:
        record["key"] = principal.key.id
        return record
    if principal.subject is not None:
        record["subject"] = principal.subject
        record["models"] = list(principal.models) if principal.models is not None else None
        record["limits"] = asdict(principal.limits) if principal.limits is not None else None
        record["budget"] = asdict(principal.budget) if principal.budget is not None else None
    return record


class KeyReader(Protocol):
    """Reads a key by id (``KeyStore``, or reads of several runs made together)."""

    async def get(self, key_id: str) -> ApiKey | None: ...


async def principal_from_record(record: dict[str, Any], keys: KeyReader | None) -> Principal:
    """The principal a job runs as; a 401 when its key was revoked (or is gone) since."""
    from claudegate.store import KeyBudget, KeyLimits

    digest = record.get("digest")
    key_id = record.get("key")
    if isinstance(key_id, str):
        key = await keys.get(key_id) if keys is not None else None
        if key is None or not key.active:
            raise GatewayError(401, "authentication_error", "the API key that submitted this job was revoked")
        return Principal(key, digest)
    subject = record.get("subject")
    if isinstance(subject, str):
        models, limits, budget = record.get("models"), record.get("limits"), record.get("budget")
        return Principal(
            None,
            digest,
            subject=subject,
            models=tuple(models) if isinstance(models, list) else None,
            limits=KeyLimits(**limits) if isinstance(limits, dict) else None,
            budget=KeyBudget(**budget) if isinstance(budget, dict) else None,
        )
    return Principal(None, digest)
