"""Pause, resume and cancel a running message stream, with a bounded buffer in between.

A reader task moves events from the stream into a queue of ``buffer_size`` events; the consumer
takes them from the queue. Pausing stops delivery to the consumer only: the reader keeps filling
the buffer, and once it is full the reader stops reading, so the socket's receive window fills
and the server is slowed down (back-pressure), instead of events piling up in memory. Resuming
delivers the buffer and reading continues. Cancelling stops the reader, closes the response (the
server sees the client leave) and ends iteration.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from claudegate.client._streaming import AsyncMessageStream

__all__ = ["ControlledStream"]

_END = object()


class ControlledStream:
    """A stream the caller can pause, resume and cancel.

    >>> async with client.messages.stream(**args) as stream:
    ...     control = ControlledStream(stream, buffer_size=32)
    ...     async for event in control:       # raw event dicts
    ...         if too_fast: control.pause()   # another task calls control.resume()
    """

    def __init__(self, stream: AsyncMessageStream, *, buffer_size: int = 64) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be >= 1")
        self.stream = stream
        self.buffer_size = buffer_size
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=buffer_size)
        self._running = asyncio.Event()
        self._running.set()
        self.events_read = 0
        """Events taken off the wire so far."""
        self.cancelled = False
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for event in self.stream.raw_events():
                await self._queue.put(event)
                self.events_read += 1
        except Exception as exc:  # handed to the consumer, raised where it reads
            await self._queue.put(exc)
        await self._queue.put(_END)

    @property
    def paused(self) -> bool:
        """Whether delivery is paused."""
        return not self._running.is_set()

    @property
    def buffered(self) -> int:
        """Events read but not yet delivered."""
        return self._queue.qsize()

    def pause(self) -> None:
        """Stop delivering events; reading stops too once the buffer is full."""
        self._running.clear()

    def resume(self) -> None:
        """Deliver again."""
        self._running.set()

    async def cancel(self) -> None:
        """Stop reading, close the connection, and end iteration."""
        self.cancelled = True
        self._running.set()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.stream.close()
        # wake a consumer waiting on an empty buffer; what was buffered is dropped
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_END)

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._deliver()

    async def _deliver(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            await self._running.wait()
            if self.cancelled:
                return
            item = await self._queue.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            yield item
