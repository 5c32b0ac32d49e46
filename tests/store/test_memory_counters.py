"""The memory counters on a fake clock: exact sliding-window answers, with no waiting."""

from __future__ import annotations

from datetime import UTC, datetime

from claudegate.store import MemoryCounters, RateLimit


class FakeClock:
    """Seconds since the epoch that move only when the test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_retry_after_follows_the_sliding_window_across_a_boundary() -> None:
    clock = FakeClock(120.0)  # the start of fixed window 2 (of 60 s)
    counters = MemoryCounters(clock=clock)
    rate = RateLimit("requests", limit=2, window=60)
    assert [(await counters.reserve("key_a", rate)).allowed for _ in range(2)] == [True, True]

    # Both requests sit in the current window: the next one fits once the window has turned over and
    # half of it has slid by, 60 + 30 s from the window's start. This is why it can exceed 60 s.
    refused = await counters.reserve("key_a", rate)
    assert (refused.allowed, refused.remaining, refused.retry_after) == (False, 0, 90.0)
    clock.now = 150.0
    assert (await counters.reserve("key_a", rate)).retry_after == 60.0

    # Across the boundary the two requests weigh 2 * (1 - elapsed / 60) as the previous window.
    clock.now = 180.0
    assert (await counters.reserve("key_a", rate)).retry_after == 30.0
    clock.now = 195.0
    assert (await counters.reserve("key_a", rate)).retry_after == 15.0
    clock.now = 210.0
    admitted = await counters.reserve("key_a", rate)
    assert (admitted.allowed, admitted.remaining) == (True, 0)

    # Now one request in each window: the next fits when the previous window has slid out entirely.
    refused = await counters.reserve("key_a", rate)
    assert (refused.allowed, refused.retry_after) == (False, 30.0)
    clock.now = 240.0
    assert (await counters.reserve("key_a", rate)).allowed


async def test_the_worst_wait_for_one_request_is_a_window_and_a_limits_share() -> None:
    clock = FakeClock(0.0)
    counters = MemoryCounters(clock=clock)
    for limit in (1, 2, 4, 10):
        rate = RateLimit(f"rpm{limit}", limit=limit, window=60)
        for _ in range(limit):
            assert (await counters.reserve("key_a", rate)).allowed
        refused = await counters.reserve("key_a", rate)
        assert refused.retry_after == 60.0 + 60.0 / limit


async def test_batches_slots_and_circuits_read_the_same_clock() -> None:
    clock = FakeClock(1_000.0)
    counters = MemoryCounters(clock=clock)
    rate = RateLimit("requests", limit=1, window=10)
    first = await counters.admit("key_a", [(rate, 1)], slots=1, lease=5.0)
    assert first.allowed
    second = await counters.admit("key_a", [(rate, 1)], slots=1, lease=5.0)
    assert not second.allowed
    assert second.slot is not None and second.slot.retry_after == 5.0
    assert second.rates[0].retry_after == 20.0  # a window and a whole limit's share: 10 + 10 s
    await counters.open_circuit("primary", 3.0)
    assert (await counters.circuit("primary")).retry_after == 3.0
    clock.now = 1_003.0
    assert not (await counters.circuit("primary")).open
    clock.now = 1_005.0  # the lease has run out, and the window has half slid
    third = await counters.admit("key_a", [(rate, 1)], slots=1, lease=5.0)
    assert third.slot is not None and third.slot.allowed
    assert not third.rates[0].allowed and third.rates[0].retry_after == 15.0


async def test_spend_is_counted_on_the_clocks_day() -> None:
    clock = FakeClock(datetime(2026, 3, 31, 23, 59, tzinfo=UTC).timestamp())
    counters = MemoryCounters(clock=clock)
    await counters.add_spend("key_a", 1.5)
    assert (await counters.spend("key_a")).day == 1.5
    clock.now += 120  # past midnight: a new day and a new month
    spent = await counters.spend("key_a")
    assert (spent.day, spent.month) == (0.0, 0.0)
    assert (await counters.spend("key_a", at=datetime(2026, 3, 31, 12, tzinfo=UTC))).day == 1.5
