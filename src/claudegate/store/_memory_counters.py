"""Counters in process memory: the single-machine backend (nothing to run, nothing shared)."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from claudegate.errors import UserError
from claudegate.store._counters import (
    Admission,
    Batch,
    CircuitState,
    CounterHealth,
    RateLimit,
    Spend,
    over_budget,
    sliding_window,
    spend_periods,
)

__all__ = ["MemoryCounters"]


class MemoryCounters:
    """``Counters`` for one process; every call is atomic because none of them awaits.

    Every reading of time goes through ``clock`` (seconds since the epoch, ``time.time`` unless
    given): rate windows, slot leases, circuit expiry, and the UTC day and month that spend is
    counted under when no ``at`` is given. Tests pass a fake clock to make refusals exact.

    Example::

        now = [120.0]
        counters = MemoryCounters(clock=lambda: now[0])
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], dict[int, float]] = {}
        self._slots: dict[str, dict[str, float]] = {}
        self._spend: dict[str, dict[str, float]] = {}
        self._circuits: dict[str, float] = {}

    def _buckets(
        self, key_id: str, rate: RateLimit, now: float | None = None
    ) -> tuple[dict[int, float], int, float]:
        if now is None:
            now = self._clock()
        index = math.floor(now / rate.window)
        buckets = self._windows.setdefault((key_id, rate.name), {})
        for stale in [i for i in buckets if i < index - 1]:
            del buckets[stale]
        return buckets, index, now - index * rate.window

    async def reserve(self, key_id: str, rate: RateLimit, amount: int = 1) -> Admission:
        """Charge ``amount`` against ``rate`` if it fits in the window; charge nothing otherwise."""
        if amount < 0:
            raise UserError("a reservation cannot be negative", field="amount")
        buckets, index, elapsed = self._buckets(key_id, rate)
        allowed, remaining, retry_after = sliding_window(
            buckets.get(index - 1, 0.0), buckets.get(index, 0.0), elapsed, rate, amount
        )
        if allowed:
            buckets[index] = buckets.get(index, 0.0) + amount
        return Admission(allowed=allowed, remaining=remaining, retry_after=retry_after)

    async def adjust(self, key_id: str, rate: RateLimit, delta: int) -> None:
        """Correct an earlier reservation once the real amount is known (``delta`` may be negative)."""
        buckets, index, _ = self._buckets(key_id, rate)
        buckets[index] = buckets.get(index, 0.0) + delta

    def _live_slots(self, key_id: str, now: float | None = None) -> dict[str, float]:
        if now is None:
            now = self._clock()
        slots = self._slots.setdefault(key_id, {})
        for expired in [slot for slot, expiry in slots.items() if expiry <= now]:
            del slots[expired]
        return slots

    async def acquire_slot(self, key_id: str, *, limit: int, lease: float) -> Admission:
        """Take one of ``limit`` concurrency slots; it frees itself after ``lease`` seconds."""
        slots = self._live_slots(key_id)
        if len(slots) >= limit:
            retry_after = max(min(slots.values()) - self._clock(), 0.0) if slots else math.inf
            return Admission(allowed=False, remaining=0, retry_after=retry_after)
        slot = secrets.token_hex(8)
        slots[slot] = self._clock() + lease
        return Admission(allowed=True, remaining=limit - len(slots), slot=slot)

    async def renew_slot(self, key_id: str, slot: str, lease: float) -> bool:
        """Extend a held slot's lease; false when it already expired."""
        slots = self._live_slots(key_id)
        if slot not in slots:
            return False
        slots[slot] = self._clock() + lease
        return True

    async def release_slot(self, key_id: str, slot: str) -> None:
        """Give a slot back before its lease ends."""
        self._live_slots(key_id).pop(slot, None)

    async def add_spend(self, key_id: str, cost: float, at: datetime | None = None) -> Spend:
        """Add ``cost`` to the key's day and month totals and return the new totals."""
        day, month = spend_periods(at, self._clock())
        totals = self._spend.setdefault(key_id, {})
        for past in [label for label in totals if label not in (day, month)]:
            del totals[past]
        totals[day] = totals.get(day, 0.0) + cost
        totals[month] = totals.get(month, 0.0) + cost
        return Spend(day=totals[day], month=totals[month])

    async def spend(self, key_id: str, at: datetime | None = None) -> Spend:
        """The key's day and month totals."""
        day, month = spend_periods(at, self._clock())
        totals = self._spend.get(key_id, {})
        return Spend(day=totals.get(day, 0.0), month=totals.get(month, 0.0))

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
        """Reserve every rate, take a slot and check the ``(day, month)`` spend caps in one atomic step."""
        now = self._clock()  # one clock read for the whole batch
        allowed = True
        answers: list[Admission] = []
        charges: list[tuple[dict[int, float], int, int]] = []
        for rate, amount in reservations:
            if amount < 0:
                raise UserError("a reservation cannot be negative", field="amount")
            buckets, index, elapsed = self._buckets(key_id, rate, now)
            fits, remaining, retry_after = sliding_window(
                buckets.get(index - 1, 0.0), buckets.get(index, 0.0), elapsed, rate, amount
            )
            allowed = allowed and fits
            answers.append(Admission(allowed=fits, remaining=remaining, retry_after=retry_after))
            charges.append((buckets, index, amount))
        spent: Spend | None = None
        if budget is not None:
            spent = await self.spend(key_id, at)
            allowed = allowed and not over_budget(spent, *budget)
        slot: Admission | None = None
        held: dict[str, float] = {}
        if slots is not None:
            held = self._live_slots(key_id, now)
            if len(held) >= slots:
                retry_after = max(min(held.values()) - now, 0.0) if held else math.inf
                slot = Admission(allowed=False, remaining=0, retry_after=retry_after)
                allowed = False
            else:
                slot = Admission(allowed=True, remaining=slots - len(held) - 1, slot=secrets.token_hex(8))
        if allowed:
            for buckets, index, amount in charges:
                buckets[index] = buckets.get(index, 0.0) + amount
            if slot is not None and slot.slot is not None:
                held[slot.slot] = now + lease
        return Batch(allowed=allowed, rates=tuple(answers), slot=slot, spend=spent)

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
        now = self._clock()
        if slot is not None:
            self._live_slots(key_id, now).pop(slot, None)
        for rate, delta in adjustments:
            buckets, index, _ = self._buckets(key_id, rate, now)
            buckets[index] = buckets.get(index, 0.0) + delta
        if cost:
            await self.add_spend(key_id, cost, at)

    async def open_circuit(self, deployment: str, ttl: float) -> None:
        """Mark a deployment's circuit open for ``ttl`` seconds."""
        self._circuits[deployment] = self._clock() + ttl

    async def circuit(self, deployment: str) -> CircuitState:
        """Whether the deployment's circuit is open."""
        left = self._circuits.get(deployment, 0.0) - self._clock()
        if left <= 0:
            self._circuits.pop(deployment, None)
            return CircuitState(open=False)
        return CircuitState(open=True, retry_after=left)

    async def health(self) -> CounterHealth:
        """Always healthy: the counters live in this process."""
        return CounterHealth(backend="memory", ok=True)

    async def close(self) -> None:
        """Forget every counter."""
        self._windows.clear()
        self._slots.clear()
        self._spend.clear()
        self._circuits.clear()
