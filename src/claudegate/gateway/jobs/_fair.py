"""Weighted fair picking across priorities: high goes first, low never starves.

Of the priorities with due work, each pick goes to the one with the most credit (smooth weighted
round robin): every pick adds each present priority's weight to its credit and takes the sum of
the present weights from the one picked. With the default weights (high 6, medium 3, low 1), while
all three have due work, every 10 consecutive picks hold exactly 6 high, 3 medium and 1 low in a
fixed interleaving — so a due job of a priority with weight ``w`` is picked within
``ceil(n / w) * 10`` picks when ``n - 1`` jobs of its priority are due before it, however many
jobs of higher priorities keep arriving (the starvation bound). A priority without due work takes
no turn (no pick is wasted), and the credits carry over from one claim round to the next.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

__all__ = ["WEIGHTS", "FairPicker"]

T = TypeVar("T")

WEIGHTS: dict[int, int] = {2: 6, 1: 3, 0: 1}
"""Priority rank (``PRIORITIES``) → its share of picks while every priority has due work."""


class FairPicker:
    """The order in which due jobs of several priorities are claimed (see the module docstring)."""

    def __init__(self, weights: Mapping[int, int] | None = None) -> None:
        self.weights = dict(weights if weights is not None else WEIGHTS)
        if any(weight < 1 for weight in self.weights.values()):
            raise ValueError("priority weights must be >= 1")
        self.credit: dict[int, int] = dict.fromkeys(self.weights, 0)

    def order(self, due: Mapping[int, Sequence[T]]) -> Iterator[T]:
        """The items of ``due`` (each priority's oldest first), interleaved; the credits change as
        items are taken, so stop iterating at the last one claimed."""
        queues = {rank: list(items)[::-1] for rank, items in due.items() if items}
        while queues:
            total = sum(self.weights.get(rank, 1) for rank in queues)
            for rank in queues:
                self.credit[rank] = self.credit.get(rank, 0) + self.weights.get(rank, 1)
            chosen = max(queues, key=lambda rank: (self.credit[rank], rank))
            self.credit[chosen] -= total
            queue = queues[chosen]
            item = queue.pop()
            if not queue:
                del queues[chosen]
            yield item
