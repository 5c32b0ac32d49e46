"""One-step admission and settlement (``Counters.admit`` / ``settle``) on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

from claudegate.store import Counters, RateLimit, Spend, over_budget

REQUESTS = RateLimit("requests", limit=3, window=60)
TOKENS = RateLimit("input_tokens", limit=1000, window=60)
DAY = datetime(2026, 4, 1, 9, tzinfo=UTC)


async def test_a_batch_reserves_every_rate_and_a_slot_together(counters: Counters) -> None:
    batch = await counters.admit("key_a", [(REQUESTS, 1), (TOKENS, 400)], slots=2, lease=30)
    assert batch.allowed
    assert [answer.remaining for answer in batch.rates] == [2, 600]
    assert batch.slot is not None and batch.slot.allowed and batch.slot.slot and batch.slot.remaining == 1
    assert batch.spend is None
    # The reservation counted: only 600 tokens are left for anyone else.
    assert not (await counters.reserve("key_a", TOKENS, 601)).allowed


async def test_a_refused_batch_charges_nothing(counters: Counters) -> None:
    held = await counters.admit("key_a", [(REQUESTS, 1)], slots=1, lease=30)
    assert held.allowed
    refused = await counters.admit("key_a", [(REQUESTS, 1), (TOKENS, 500)], slots=1, lease=30)
    assert not refused.allowed
    assert [answer.allowed for answer in refused.rates] == [True, True]  # each had room alone
    assert refused.slot is not None and not refused.slot.allowed and refused.slot.retry_after > 0
    # Neither the request nor the tokens of the refused batch were counted.
    assert (await counters.reserve("key_a", REQUESTS, 2)).allowed
    assert (await counters.reserve("key_a", TOKENS, 1000)).allowed


async def test_a_spent_budget_refuses_the_batch_and_reports_the_totals(counters: Counters) -> None:
    await counters.add_spend("key_a", 2.5, at=DAY)
    under = await counters.admit("key_a", [(REQUESTS, 1)], budget=(3.0, None), at=DAY)
    assert under.allowed and under.spend == Spend(day=2.5, month=2.5)
    over = await counters.admit("key_a", [(REQUESTS, 1)], budget=(None, 2.5), at=DAY)
    assert not over.allowed and over.spend is not None and over_budget(over.spend, None, 2.5)
    assert [answer.allowed for answer in over.rates] == [True]
    # Only the admitted batch took a request: two of three are left.
    assert (await counters.reserve("key_a", REQUESTS, 2)).allowed


async def test_settling_frees_the_slot_corrects_tokens_and_adds_spend(counters: Counters) -> None:
    batch = await counters.admit("key_a", [(TOKENS, 900)], slots=1, lease=30)
    assert batch.allowed and batch.slot is not None and batch.slot.slot is not None
    await counters.settle("key_a", [(TOKENS, -800)], slot=batch.slot.slot, cost=0.75, at=DAY)
    again = await counters.admit("key_a", [(TOKENS, 900)], slots=1, lease=30, budget=(1.0, None), at=DAY)
    assert again.allowed  # the slot is free and only 100 tokens were really used
    assert again.spend == Spend(day=0.75, month=0.75)
    assert (await counters.spend("key_a", at=DAY)).day == 0.75
