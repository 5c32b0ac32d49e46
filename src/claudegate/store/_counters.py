"""The counters interface shared by the memory and Redis backends, and the sliding-window rule.

Counters hold short-lived, fast-changing numbers that every gateway replica must agree on: rate
limits (requests and tokens per window), concurrency slots with leases, budget spend per day and
month, and open-circuit flags per deployment. Durable records live in the SQL store instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from claudegate.errors import UserError

__all__ = [
    "Admission",
    "Batch",
    "CircuitState",
    "CounterHealth",
    "Counters",
    "FailurePolicy",
    "RateLimit",
    "Spend",
    "over_budget",
    "sliding_window",
    "spend_periods",
]


class FailurePolicy(StrEnum):
    """What admission checks answer when the shared counter store cannot be reached."""

    FAIL_OPEN = "fail_open"
    FAIL_CLOSED = "fail_closed"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A budget of ``limit`` units (requests or tokens) per sliding ``window`` seconds."""

    name: str
    limit: int
    window: float = 60.0

    def __post_init__(self) -> None:
        if not self.name or any(char in self.name for char in "{}:"):
            raise UserError(f"invalid rate limit name {self.name!r}", field="name")
        if self.limit < 0 or self.window <= 0:
            raise UserError("a rate limit needs limit >= 0 and window > 0", field=self.name)


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to an admission check.

    ``retry_after`` is the wait in seconds before the same request could pass (``inf`` when it never
    can, e.g. more tokens than the whole limit). ``degraded`` is true when the counter store was
    unreachable and the failure policy decided. ``slot`` names an acquired concurrency slot.
    """

    allowed: bool
    remaining: int
    retry_after: float = 0.0
    degraded: bool = False
    slot: str | None = None


@dataclass(frozen=True, slots=True)
class Spend:
    """A key's spend so far in the current UTC day and month."""

    day: float
    month: float
    degraded: bool = False


@dataclass(frozen=True, slots=True)
class Batch:
    """The answer to one whole admission: every rate, the concurrency slot and the spend, all or nothing.

    ``allowed`` is true only when everything was reserved. Each of ``rates`` (in the order asked)
    says whether that limit alone had room; ``slot`` is ``None`` when no slot was asked for and
    ``spend`` is ``None`` when no budget was given. A refused batch charged nothing.
    """

    allowed: bool
    rates: tuple[Admission, ...]
    slot: Admission | None = None
    spend: Spend | None = None


def over_budget(spend: Spend, day_cap: float | None, month_cap: float | None) -> bool:
    """Whether ``spend`` has reached either cap (``None``: no cap)."""
    return (day_cap is not None and spend.day >= day_cap) or (
        month_cap is not None and spend.month >= month_cap
    )


@dataclass(frozen=True, slots=True)
class CircuitState:
    """Whether a deployment's circuit is open, and for how many more seconds."""

    open: bool
    retry_after: float = 0.0
    degraded: bool = False


@dataclass(frozen=True, slots=True)
class CounterHealth:
    """Whether the counter store is reachable, and the failure policy applied when it is not."""

    backend: str
    ok: bool
    policy: FailurePolicy | None = None
    detail: str = ""


class Counters(Protocol):
    """Shared counters; every method is one atomic step, safe across replicas for shared backends."""

    async def reserve(self, key_id: str, rate: RateLimit, amount: int = 1) -> Admission:
        """Charge ``amount`` against ``rate`` if it fits in the window; charge nothing otherwise."""
        ...

    async def adjust(self, key_id: str, rate: RateLimit, delta: int) -> None:
        """Correct an earlier reservation once the real amount is known (``delta`` may be negative)."""
        ...

    async def acquire_slot(self, key_id: str, *, limit: int, lease: float) -> Admission:
        """Take one of ``limit`` concurrency slots; it frees itself after ``lease`` seconds."""
        ...

    async def renew_slot(self, key_id: str, slot: str, lease: float) -> bool:
        """Extend a held slot's lease; false when it already expired."""
        ...

    async def release_slot(self, key_id: str, slot: str) -> None:
        """Give a slot back before its lease ends."""
        ...

    async def add_spend(self, key_id: str, cost: float, at: datetime | None = None) -> Spend:
        """Add ``cost`` to the key's day and month totals and return the new totals."""
        ...

    async def spend(self, key_id: str, at: datetime | None = None) -> Spend:
        """The key's day and month totals."""
        ...

    async def admit(
        self,
        key_id: str,
        reservations: Sequence[tuple[RateLimit, int]],
        *,
        slots: int | None = None,
        lease: float = 0.0,
        budget: tuple[float | None, float | None] | None = None,
        at: datetime | None = None,
    ) -> Batch:
        """Reserve every rate, take a slot and check the ``(day, month)`` spend caps in one atomic step.

        All or nothing: when any rate, the slot or the budget refuses, nothing is charged.
        """
        ...

    async def settle(
        self,
        key_id: str,
        adjustments: Sequence[tuple[RateLimit, int]],
        *,
        slot: str | None = None,
        cost: float = 0.0,
        at: datetime | None = None,
    ) -> None:
        """Correct reservations, free ``slot`` and add ``cost`` to the spend, in one step."""
        ...

    async def open_circuit(self, deployment: str, ttl: float) -> None:
        """Mark a deployment's circuit open for ``ttl`` seconds, for every replica."""
        ...

    async def circuit(self, deployment: str) -> CircuitState:
        """Whether the deployment's circuit is open."""
        ...

    async def health(self) -> CounterHealth:
        """Probe the backing store."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def sliding_window(
    previous: float, current: float, elapsed: float, rate: RateLimit, amount: int
) -> tuple[bool, int, float]:
    """Decide a reservation with the sliding-window counter rule: ``(allowed, remaining, retry_after)``.

    The count in the last ``window`` seconds is estimated as the previous fixed window's count,
    weighted by how much of it still overlaps, plus the current window's count. ``elapsed`` is the
    time since the current fixed window started.
    """
    window, limit = rate.window, rate.limit
    fraction = min(max(elapsed / window, 0.0), 1.0)
    used = max(previous * (1.0 - fraction) + current, 0.0)
    if used + amount <= limit:
        return True, max(math.floor(limit - used - amount), 0), 0.0
    remaining = max(math.floor(limit - used), 0)
    if amount > limit:
        return False, remaining, math.inf
    if current + amount > limit:
        # Wait for the next window, in which today's current count becomes the weighted previous one.
        needed = 1.0 - (limit - amount) / current if current > 0 else 0.0
        return False, remaining, (1.0 - fraction) * window + max(needed, 0.0) * window
    needed = 1.0 - (limit - current - amount) / previous
    return False, remaining, max(needed - fraction, 0.0) * window


_today: tuple[int, tuple[str, str]] = (-1, ("", ""))


def spend_periods(at: datetime | None, now: float | None = None) -> tuple[str, str]:
    """The UTC day and month labels spend is counted under, e.g. ``("2026-04-01", "2026-04")``.

    ``at`` wins when given; otherwise ``now`` (seconds since the epoch, default ``time.time()``) is
    the moment, so that counters with an injected clock count spend on that clock's day too.
    """
    global _today
    if at is None:
        # POSIX time has exactly 86,400 s a day, so one epoch day is one UTC day (and one month's part).
        day = int((time.time() if now is None else now) // 86_400)
        if day == _today[0]:
            return _today[1]
        moment = datetime.fromtimestamp(day * 86_400, UTC)
        _today = (day, (moment.strftime("%Y-%m-%d"), moment.strftime("%Y-%m")))
        return _today[1]
    moment = at.astimezone(UTC)
    return moment.strftime("%Y-%m-%d"), moment.strftime("%Y-%m")
