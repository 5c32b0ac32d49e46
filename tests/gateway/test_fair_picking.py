"""Weighted fair picking across priorities: high goes first, low never starves (the bound in
``claudegate.gateway.jobs._fair``) whatever came before, no turn is wasted on a priority without
due work."""

from __future__ import annotations

import itertools
import random

import pytest

from claudegate.gateway.jobs._fair import WEIGHTS, FairPicker, strides

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


@pytest.mark.parametrize("seed", range(40))
def test_the_bound_holds_after_any_history(seed: int) -> None:
    """Whatever was picked before (priorities coming and going, rounds of any size), the n-th low
    of those now due is picked within 10·n picks (7·n with only high ones), while more high and
    medium ones keep arriving."""
    chance = random.Random(seed)
    picker = FairPicker()
    for _ in range(chance.randint(0, 80)):  # the history: rounds over whatever happened to be due
        due = {
            rank: _supply(rank, chance.randint(1, 5)) for rank in (HIGH, MEDIUM, LOW) if chance.random() < 0.6
        }
        list(itertools.islice(picker.order(due), chance.randint(1, 6)))
    three = chance.random() < 0.5
    lows = _supply(LOW, chance.randint(1, 30))
    arriving = {HIGH: _supply(HIGH, 2000), MEDIUM: _supply(MEDIUM, 2000 if three else 0)}
    taken = {HIGH: 0, MEDIUM: 0}
    positions: list[int] = []
    picks = 0
    while lows:
        size = chance.randint(1, 4)  # a round claims what its free workers take
        due = {rank: items[taken[rank] : taken[rank] + size] for rank, items in arriving.items()}
        due[LOW] = lows[:size]
        for item in itertools.islice(picker.order(due), size):
            picks += 1
            rank = int(item.split("-")[0])
            if rank == LOW:
                lows.remove(item)
                positions.append(picks)
            else:
                taken[rank] += 1
    share = sum(WEIGHTS.values()) if three else WEIGHTS[HIGH] + WEIGHTS[LOW]
    assert all(position <= share * number for number, position in enumerate(positions, 1)), positions


def test_a_priority_without_work_takes_no_turn_and_the_tags_carry_over() -> None:
    alone = FairPicker()
    assert _ranks(alone, {LOW: _supply(LOW, 3)}, 10) == [LOW, LOW, LOW]
    one_by_one = FairPicker()
    due = {HIGH: _supply(HIGH, 50), MEDIUM: _supply(MEDIUM, 50), LOW: _supply(LOW, 50)}
    stepped: list[int] = []
    for _ in range(30):  # one claim per round, as a gateway with one free worker claims
        rank = _ranks(one_by_one, {r: items[stepped.count(r) :] for r, items in due.items()}, 1)
        stepped += rank
    assert stepped == _ranks(FairPicker(), due, 30)


def test_a_priority_back_after_a_pause_banks_no_credit() -> None:
    """Low ones alone for a long time, then high ones arrive: high goes first at once, and the low
    ones keep their share (one in seven), not a run of turns saved up while high had nothing."""
    picker = FairPicker()
    list(picker.order({LOW: _supply(LOW, 500)}))
    ranks = _ranks(picker, {HIGH: _supply(HIGH, 100), LOW: _supply(LOW, 100)}, 70)
    assert ranks[0] == HIGH
    assert ranks.count(LOW) == 10


def test_weights_must_be_positive_and_make_whole_strides() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        FairPicker({HIGH: 0})
    assert strides(WEIGHTS) == {HIGH: 1, MEDIUM: 2, LOW: 6}
