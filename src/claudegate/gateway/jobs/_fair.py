"""Weighted fair picking across priorities: high goes first, low never starves.

Picks follow a virtual clock. Each priority has a stride inversely proportional to its weight
(high 6, medium 3, low 1 → strides 1, 2, 6) and a *tag*, the virtual time of its next pick; each
pick goes to the priority with due work whose tag is smallest (a tie to the lower priority), the
clock moves to that tag and the tag moves on by the stride. A priority with due work again after a
time without any takes its next turn one stride after the clock: it banks neither turns nor debt.

While all three have due work, every 10 consecutive picks hold exactly 6 high, 3 medium and 1
low, high first. The starvation bound: the tag of a priority with due work is never behind the
clock nor more than one stride ahead of it, so the n-th due job of a priority with stride ``s``
has a tag at most ``n·s`` ahead, and before it come at most ``⌈n·s / s'⌉`` picks of each other
priority with stride ``s'``: a low job that is the n-th due low one is picked within the next 10·n
picks (7·n when only high and low wait), a medium one within 3·n + ⌈n/3⌉, however many jobs of
other priorities keep arriving. A priority without due work takes no turn (no pick is wasted), and
the clock and the tags carry over from one claim round to the next.

The PgQueuer backend orders its queue by the same tags, given to each entry when it is queued
(``_pgfair.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

__all__ = ["WEIGHTS", "FairPicker", "strides"]

T = TypeVar("T")

WEIGHTS: dict[int, int] = {2: 6, 1: 3, 0: 1}
"""Priority rank (``PRIORITIES``) → its share of picks while every priority has due work."""


def strides(weights: Mapping[int, int]) -> dict[int, int]:
    """Each rank's stride: how far its tag moves per pick (whole numbers: the weights' least
    common multiple over each weight)."""
    if any(weight < 1 for weight in weights.values()):
        raise ValueError("priority weights must be >= 1")
    common = math.lcm(*weights.values())
    return {rank: common // weight for rank, weight in weights.items()}


class FairPicker:
    """The order in which due jobs of several priorities are claimed (see the module docstring)."""

    def __init__(self, weights: Mapping[int, int] | None = None) -> None:
        self.strides = strides(weights if weights is not None else WEIGHTS)
        self.clock = 0
        """The tag of the last pick."""
        self.tags: dict[int, int] = {}
        """Each rank's tag: the virtual time of its next pick."""
        self.waiting: set[int] = set()
        """The ranks that had due work left when the last round ended."""

    def order(self, due: Mapping[int, Sequence[T]]) -> Iterator[T]:
        """The items of ``due`` (each priority's oldest first), interleaved; the tags move as
        items are taken, so stop iterating at the last one claimed."""
        queues = {rank: list(items)[::-1] for rank, items in due.items() if items}
        for rank in queues:
            if rank not in self.waiting:  # back after a time without due work
                self.tags[rank] = max(self.tags.get(rank, 0), self.clock + self._stride(rank))
        self.waiting = set(queues)
        while queues:
            chosen = min(queues, key=lambda rank: (self.tags[rank], rank))
            self.clock = self.tags[chosen]
            self.tags[chosen] += self._stride(chosen)
            queue = queues[chosen]
            item = queue.pop()
            if not queue:
                del queues[chosen]
                self.waiting.discard(chosen)
            yield item

    def _stride(self, rank: int) -> int:
        return self.strides.get(rank, max(self.strides.values()))
