"""A run in a group of batched runs (``Member``), and what every group does with its runs' answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from claudegate.gateway.core import Principal
from claudegate.gateway.jobs import Attempt, Job

__all__ = ["Member", "answer_with", "cancel_with", "with_group"]


@dataclass(slots=True, eq=False)
class Member:
    """One run waiting for (or in) its group: the job's attempt, and the future its answer goes to."""

    job: Job
    principal: Principal
    headers: dict[str, str]
    request_id: str
    joined: float
    answer: asyncio.Future[Attempt]
    parked: bool = False


def with_group(attempt: Attempt, grouped: dict[str, Any]) -> Attempt:
    """The attempt, its result event naming the group it ran in."""
    if attempt.result is not None:
        attempt.result = {**attempt.result, "batch": grouped}
    return attempt


def cancel_with(task: asyncio.Task[Attempt]) -> Callable[[asyncio.Future[Attempt]], None]:
    """A callback cancelling ``task`` (a run's calls) when the run's answer is cancelled (its
    attempt was: the job canceled, its lease lost)."""

    def cancel(answer: asyncio.Future[Attempt]) -> None:
        if answer.cancelled():
            task.cancel()

    return cancel


async def answer_with(runs: list[tuple[Member, asyncio.Task[Attempt]]], grouped: dict[str, Any]) -> None:
    """Wait for the runs' own tasks and answer each member with its attempt (a member cancelled
    meanwhile keeps its cancellation)."""
    if not runs:
        return
    try:
        await asyncio.wait([task for _, task in runs])
    finally:
        for _, task in runs:
            task.cancel()
    for member, task in runs:
        if not task.cancelled() and not member.answer.done():
            member.answer.set_result(with_group(task.result(), grouped))
