from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import pytest

from claudegate.errors import UserError
from claudegate.store import Counters, RateLimit, Spend, sliding_window


async def test_a_limit_admits_exactly_its_size_within_a_window(counters: Counters) -> None:
    rate = RateLimit("requests", limit=5, window=60)
    answers = [await counters.reserve("key_a", rate) for _ in range(8)]
    assert [answer.allowed for answer in answers] == [True] * 5 + [False] * 3
    assert [answer.remaining for answer in answers[:5]] == [4, 3, 2, 1, 0]
    assert answers[5].remaining == 0
    assert 0 < answers[5].retry_after <= 120
    assert (await counters.reserve("key_b", rate)).allowed


async def test_the_window_slides_and_admits_again(counters: Counters) -> None:
    rate = RateLimit("requests", limit=3, window=0.25)
    assert all([(await counters.reserve("key_a", rate)).allowed for _ in range(3)])
    refused = await counters.reserve("key_a", rate)
    assert not refused.allowed
    assert 0 < refused.retry_after <= 0.5
    await asyncio.sleep(0.55)
    assert (await counters.reserve("key_a", rate)).allowed


async def test_token_reservations_are_corrected_afterwards(counters: Counters) -> None:
    rate = RateLimit("input_tokens", limit=1000, window=60)
    first = await counters.reserve("key_a", rate, 800)
    assert (first.allowed, first.remaining) == (True, 200)
    too_much = await counters.reserve("key_a", rate, 300)
    assert not too_much.allowed
    # The request used 300 tokens, not the 800 reserved: give back 500.
    await counters.adjust("key_a", rate, -500)
    second = await counters.reserve("key_a", rate, 300)
    assert (second.allowed, second.remaining) == (True, 400)
    await counters.adjust("key_a", rate, 400)
    assert not (await counters.reserve("key_a", rate, 1)).allowed


async def test_a_request_larger_than_the_whole_limit_can_never_pass(counters: Counters) -> None:
    rate = RateLimit("output_tokens", limit=100, window=60)
    answer = await counters.reserve("key_a", rate, 101)
    assert not answer.allowed
    assert math.isinf(answer.retry_after)
    assert (await counters.reserve("key_a", rate, 100)).allowed


async def test_concurrency_slots_are_limited_released_and_expire(counters: Counters) -> None:
    first = await counters.acquire_slot("key_a", limit=2, lease=0.3)
    second = await counters.acquire_slot("key_a", limit=2, lease=0.3)
    assert first.allowed and second.allowed
    assert first.slot and second.slot and first.slot != second.slot
    assert second.remaining == 0
    assert not (await counters.acquire_slot("key_a", limit=2, lease=0.3)).allowed
    assert (await counters.acquire_slot("key_b", limit=2, lease=0.3)).allowed
    await counters.release_slot("key_a", first.slot)
    third = await counters.acquire_slot("key_a", limit=2, lease=0.3)
    assert third.allowed
    refused = await counters.acquire_slot("key_a", limit=2, lease=0.3)
    assert not refused.allowed
    assert 0 < refused.retry_after <= 0.3
    # A replica that crashed never releases: its leases run out instead.
    await asyncio.sleep(0.4)
    after = await counters.acquire_slot("key_a", limit=2, lease=0.3)
    assert (after.allowed, after.remaining) == (True, 1)


async def test_a_renewed_slot_outlives_its_first_lease(counters: Counters) -> None:
    held = await counters.acquire_slot("key_a", limit=1, lease=0.25)
    assert held.slot is not None
    assert await counters.renew_slot("key_a", held.slot, 5)
    await asyncio.sleep(0.35)
    assert not (await counters.acquire_slot("key_a", limit=1, lease=0.25)).allowed
    await counters.release_slot("key_a", held.slot)
    assert not await counters.renew_slot("key_a", held.slot, 5)
    short = await counters.acquire_slot("key_a", limit=1, lease=0.1)
    assert short.slot is not None
    await asyncio.sleep(0.2)
    assert not await counters.renew_slot("key_a", short.slot, 5)


async def test_spend_adds_up_per_utc_day_and_month(counters: Counters) -> None:
    first_day = datetime(2026, 4, 1, 9, tzinfo=UTC)
    second_day = datetime(2026, 4, 2, 9, tzinfo=UTC)
    assert await counters.spend("key_a", at=first_day) == Spend(day=0.0, month=0.0)
    await counters.add_spend("key_a", 0.5, at=first_day)
    totals = await counters.add_spend("key_a", 0.75, at=first_day)
    assert (totals.day, totals.month) == (1.25, 1.25)
    later = await counters.add_spend("key_a", 0.25, at=second_day)
    assert (later.day, later.month) == (0.25, 1.5)
    read = await counters.spend("key_a", at=second_day)
    assert (read.day, read.month, read.degraded) == (0.25, 1.5, False)
    assert (await counters.spend("key_b", at=second_day)).month == 0.0


async def test_circuit_flags_open_for_their_ttl(counters: Counters) -> None:
    assert not (await counters.circuit("primary")).open
    await counters.open_circuit("primary", 0.3)
    state = await counters.circuit("primary")
    assert state.open
    assert 0 < state.retry_after <= 0.3
    assert not (await counters.circuit("secondary")).open
    await asyncio.sleep(0.4)
    assert not (await counters.circuit("primary")).open


async def test_a_working_backend_reports_healthy(counters: Counters) -> None:
    health = await counters.health()
    assert health.ok
    assert health.backend in {"memory", "redis"}


def test_the_previous_window_counts_in_proportion_to_its_overlap() -> None:
    rate = RateLimit("requests", limit=10, window=60)
    # Halfway through the current window, 10 requests of the previous one still weigh 5.
    assert sliding_window(10, 0, 30, rate, 5) == (True, 0, 0.0)
    allowed, remaining, retry_after = sliding_window(10, 0, 30, rate, 6)
    assert (allowed, remaining) == (False, 5)
    assert retry_after == pytest.approx(6.0)
    # A full current window must wait for the next one, then for the overlap to shrink.
    allowed, _, retry_after = sliding_window(0, 10, 15, rate, 1)
    assert not allowed
    assert retry_after == pytest.approx(45 + 6)


def test_rate_limits_refuse_names_that_would_break_counter_keys() -> None:
    with pytest.raises(UserError):
        RateLimit("a:b", limit=1)
    with pytest.raises(UserError):
        RateLimit("requests", limit=1, window=0)
