"""Numbers for invented tool inputs: bounds (inclusive, exclusive, draft-4 flags) and ``multipleOf``."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

__all__ = ["integer_in", "is_multiple", "number_in"]


def is_multiple(value: Any, divisor: Any) -> bool:
    """``multipleOf`` as JSON Schema validators test it: an exact quotient for float divisors."""
    if isinstance(divisor, float):
        quotient = value / divisor
        return math.isfinite(quotient) and int(quotient) == quotient
    return bool(value % divisor == 0)


def _bounds(flat: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    low, high = flat.get("minimum"), flat.get("maximum")
    low_open = high_open = False
    exclusive_low, exclusive_high = flat.get("exclusiveMinimum"), flat.get("exclusiveMaximum")
    if isinstance(exclusive_low, bool):
        low_open = exclusive_low and low is not None
    elif isinstance(exclusive_low, (int, float)) and (low is None or exclusive_low >= low):
        low, low_open = exclusive_low, True
    if isinstance(exclusive_high, bool):
        high_open = exclusive_high and high is not None
    elif isinstance(exclusive_high, (int, float)) and (high is None or exclusive_high <= high):
        high, high_open = exclusive_high, True
    return low, low_open, high, high_open


def integer_in(flat: Mapping[str, Any], rng: random.Random) -> int:
    """An integer within the schema's bounds and ``multipleOf`` (its lower bound when none fits)."""
    low, low_open, high, high_open = _bounds(flat)
    lowest = None if low is None else (math.floor(low) + 1 if low_open else math.ceil(low))
    highest = None if high is None else (math.ceil(high) - 1 if high_open else math.floor(high))
    if lowest is None and highest is None:
        lowest, highest = 1, 100
    elif lowest is None:
        lowest = highest - 100 if highest is not None else 1
    elif highest is None:
        highest = lowest + 100
    assert lowest is not None and highest is not None
    step = flat.get("multipleOf")
    if isinstance(step, int) and not isinstance(step, bool) and step > 0:
        first, last = -(-lowest // step), highest // step
        if first > last:
            return lowest
        return int(rng.randint(first, min(last, first + 50)) * step)
    if isinstance(step, float) and step > 0:
        start = rng.randint(lowest, max(lowest, min(highest, lowest + 50)))
        for candidate in [*range(start, min(highest, start + 1000) + 1), *range(lowest, start)]:
            if is_multiple(candidate, step):
                return int(candidate)
        return lowest
    return rng.randint(lowest, max(lowest, highest))


def number_in(flat: Mapping[str, Any], rng: random.Random) -> float | int:
    """A number within the schema's bounds and ``multipleOf`` (two decimals when free)."""
    low, low_open, high, high_open = _bounds(flat)

    def inside(value: float) -> bool:
        above = low is None or (value > low if low_open else value >= low)
        below = high is None or (value < high if high_open else value <= high)
        return above and below

    step = flat.get("multipleOf")
    if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0:
        first = (
            math.ceil(low / step)
            if low is not None
            else (math.floor(high / step) - 100 if high is not None else 1)
        )
        last = math.floor(high / step) if high is not None else first + 100
        start = rng.randint(first, max(first, min(last, first + 50)))
        for k in [*range(start, min(last, start + 200) + 1), *range(first, start)]:
            for value in (k * step, round(k * step, 10)):
                if inside(value) and is_multiple(value, step):
                    found: float | int = value
                    return found
        return first * step
    lower = low if low is not None else (high - 100 if high is not None else 0.0)
    upper = high if high is not None else lower + 100
    value = round(rng.uniform(lower, upper), 2)
    if not inside(value):
        value = (lower + upper) / 2
    return value
