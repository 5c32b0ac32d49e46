"""Weighted fair picking across priorities: high goes first, low never starves (the bound in
``claudegate.gateway.jobs._fair``), no turn is wasted on a priority without due work."""

from __future__ import annotations

import itertools

import pytest

from claudegate.gateway.jobs._fair import WEIGHTS, FairPicker

HIGH, MEDIUM, LOW = 2, 1, 0


def _ranks(picker: FairPicker, due: dict[int, list[str]], count: int) -> list[int]:
    return [int(item.split("-")[0]) for item in itertools.islice(picker.order(due), count)]


def _supply(rank: int, count: int) -> list[str]:
    return [f"{rank}-{index}" for index in range(count)]


def test_high_goes_first_and_every_ten_picks_hold_six_three_one() -> None:
    picker = FairPicker()
    ranks = _ranks(picker, {rank: _supply(rank, 1000) for rank in (HIGH, MEDIUM, LOW)}, 600)
    assert ranks[0] == HIGH
    for start in range(len(ranks) - 10):
        window = ranks[start : start + 10]
        assert (window.count(HIGH), window.count(MEDIUM), window.count(LOW)) == (6, 3, 1)


@pytest.mark.parametrize("lows", [1, 5, 40])
def test_low_never_starves_while_high_keeps_coming(lows: int) -> None:
    picker = FairPicker()
    ranks = _ranks(picker, {HIGH: _supply(HIGH, 10_000), LOW: _supply(LOW, lows)}, 10_000)
    positions = [index + 1 for index, rank in enumerate(ranks) if rank == LOW]
    assert len(positions) == lows
    total = WEIGHTS[HIGH] + WEIGHTS[LOW]
    assert all(position <= total * number for number, position in enumerate(positions, 1))


def test_a_priority_without_work_takes_no_turn_and_credits_carry_over() -> None:
    alone = FairPicker()
    assert _ranks(alone, {LOW: _supply(LOW, 3)}, 10) == [LOW, LOW, LOW]
    one_by_one = FairPicker()
    due = {HIGH: _supply(HIGH, 50), MEDIUM: _supply(MEDIUM, 50), LOW: _supply(LOW, 50)}
    stepped: list[int] = []
    for _ in range(30):  # one claim per round, as a gateway with one free worker claims
        rank = _ranks(one_by_one, {r: items[stepped.count(r) :] for r, items in due.items()}, 1)
        stepped += rank
    assert stepped == _ranks(FairPicker(), due, 30)


def test_weights_must_be_positive() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        FairPicker({HIGH: 0})
