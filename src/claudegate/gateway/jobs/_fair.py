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

On the PgQueuer backend every replica picks with one picker whose state (``state``, ``restored``)
is kept in the database and locked while a claim uses it: the order, and the bound, are the same
across replicas as in one process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["WEIGHTS", "FairPicker", "choose", "strides"]

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

    def state(self) -> dict[str, Any]:
        """The clock, the tags and the ranks waiting, as JSON (``restored`` takes it back)."""
        tags = {str(rank): tag for rank, tag in self.tags.items()}
        return {"clock": self.clock, "tags": tags, "waiting": sorted(self.waiting)}

    @classmethod
    def restored(
        cls, state: Mapping[str, Any] | None, weights: Mapping[int, int] | None = None
    ) -> FairPicker:
        """A picker that goes on from ``state`` (None: from the start)."""
        picker = cls(weights)
        if state:
            picker.clock = int(state["clock"])
            picker.tags = {int(rank): int(tag) for rank, tag in state["tags"].items()}
            picker.waiting = {int(rank) for rank in state["waiting"]}
        return picker


def choose(
    picker: FairPicker,
    due: Mapping[int, Sequence[tuple[str, str]]],
    count: int,
    cap: int | None,
    load: Callable[[str], int],
) -> list[str]:
    """Up to ``count`` of the ``due`` jobs (their id and owner, by rank, the longest due first) in
    the fair order; an owner with ``load(owner)`` jobs running gets no more than ``cap`` in all."""
    chosen: list[str] = []
    taken: dict[str, int] = {}
    picks = picker.order(due)
    while len(chosen) < count and (pick := next(picks, None)) is not None:
        job_id, owner = pick
        if cap is None or taken.get(owner, 0) + load(owner) < cap:
            chosen.append(job_id)
            taken[owner] = taken.get(owner, 0) + 1
    return chosen
