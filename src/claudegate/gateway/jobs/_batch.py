"""Group commit: writes asked for at about the same time share one transaction.

Each claim or end of a job (and each claim or logged attempt of a webhook delivery) is a
transaction of its own when it is alone; under load, the ones asked for while the previous
transaction was in flight go together into the next one. Per item that saves the round trips of
a transaction (check-out, ``BEGIN``, ``COMMIT``) and its flush to disk, which is most of what a
job costs the gateway when the upstream answers fast. Nothing waits for company: a lone item is
written at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Runs ``write`` over the items waiting (at most ``limit`` at a time, ``lanes`` writes at
    once); ``write`` answers one result per item, in order."""

    def __init__(self, write: Callable[[list[T]], Awaitable[Sequence[R]]], *, limit: int, lanes: int) -> None:
        self._write = write
        self._limit = limit
        self._lanes = lanes
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._busy = 0  # drains running (counted down in the step that finds nothing waiting)
        self._drains: set[asyncio.Task[None]] = set()

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        if self._busy < self._lanes:
            self._busy += 1
            task = loop.create_task(self._drain())
            self._drains.add(task)
            task.add_done_callback(self._drains.discard)
        return await future

    async def close(self) -> None:
        """Wait for the writes under way (a write is one short transaction): none is left holding
        a database connection when the store closes after this."""
        while self._drains:
            await asyncio.wait(set(self._drains))

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # the items asked for in this turn of the loop come along
            while self._waiting:
                batch, self._waiting = self._waiting[: self._limit], self._waiting[self._limit :]
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # cancelled (the loop shuts down): so are the waiting items
                    for _, future in [*batch, *self._waiting]:
                        future.cancel()
                    self._waiting = []
                    raise
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._busy -= 1
