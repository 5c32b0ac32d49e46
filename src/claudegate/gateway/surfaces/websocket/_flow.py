"""Flow control of one WebSocket connection: the bounded outbox every server message goes through,
and the rolling one-minute window of stream-starting messages.

The outbox holds at most ``limit`` encoded frames. A producer (a stream, a room relay, the reader
answering a ping) waits while it is full — that is how a slow network slows the upstream down — but
never longer than ``timeout``: a queue that stays full that long belongs to a client that is not
reading, and ``on_stuck`` closes it. Memory per connection is therefore bounded by the queue, not by
how much the upstreams send.

When nothing waits and the server can take frames at once (its ``TextWriter``: the transport is not
paused), a stream's frames are handed over by ``write_texts`` without an await: the events a model
sends one by one cost no more to relay than an SSE answer's. Whenever that cannot be done, the
frames take the awaited path, which waits for the transport and is timed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from claudegate.gateway._websocket_protocol import SEND_TEXTS, TextWriter

__all__ = ["MessageRate", "Outbox", "OutboxClosed"]

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class OutboxClosed(Exception):
    """The connection is closing: nothing more can be sent."""


class Outbox:
    """The frames waiting for one client, and the task that writes them in order."""

    def __init__(
        self,
        send: Send,
        *,
        limit: int,
        timeout: float,
        on_stuck: Callable[[], None],
        on_broken: Callable[[], None],
        send_texts: bool = False,
        write: TextWriter | None = None,
    ) -> None:
        self._send = send
        self._send_texts = send_texts
        """The server takes several text frames in one ASGI message (``SEND_TEXTS``)."""
        self._text_writer = write
        """The server's writer of text frames that can go at once (see ``write_texts``)."""
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(max(1, limit))
        self._timeout = timeout
        self._on_stuck = on_stuck
        self._on_broken = on_broken
        self._writer: asyncio.Task[None] | None = None
        self._busy = False  # a producer is sending directly
        self._writing = False  # the writer task is sending
        self.blocked_since: float | None = None
        """Event-loop time a direct send began, while it has not finished."""
        self._counter = 0
        self.closed = False
        self.limit = limit
        self.peak = 0
        """The most frames ever queued at once (never above ``limit``)."""
        self._loop = asyncio.get_running_loop()
        now = self._loop.time()
        self.last_sent = now
        """Event-loop time of the last frame written."""
        self.last_activity = now
        """Event-loop time of the last frame queued that was not a heartbeat."""

    def start(self) -> None:
        """Start writing."""
        self._writer = asyncio.get_running_loop().create_task(self._write(), name="claudegate-ws-writer")

    @property
    def empty(self) -> bool:
        return self._queue.empty()

    def next_event_id(self) -> str:
        self._counter += 1
        return f"evt_{self._counter}"

    async def put(self, frame: dict[str, Any], *, activity: bool = True) -> None:
        """Queue ``frame`` (given an ``event_id`` unless it has one); ``OutboxClosed`` once closing."""
        if self.closed:
            raise OutboxClosed
        if "event_id" not in frame:
            frame = {"type": frame["type"], "event_id": self.next_event_id(), **frame}
        await self.put_text(orjson.dumps(frame).decode(), activity=activity)

    async def put_text(self, text: str, *, activity: bool = True) -> None:
        """Queue an encoded frame (it carries its own ``event_id``); ``OutboxClosed`` once closing.

        When nothing waits, the frame is sent from the caller's task at once (no hop to the writer
        task); a send that blocks (the client is not reading) is timed by ``blocked_since``, which
        the connection's timer checks with ``stuck``.
        """
        if self.closed:
            raise OutboxClosed
        if self._free():
            if not self._written([text], False, activity):
                await self._direct({"type": "websocket.send", "text": text}, activity)
            return
        await self._enqueue(text, activity)

    async def put_texts(self, texts: list[str]) -> None:
        """``put_text`` for several frames in order: one ASGI send for the lot when the server
        takes several texts at once (``send_texts``) and nothing waits."""
        if self.closed:
            raise OutboxClosed
        if self._free():
            if self._written(texts, False, True):
                return
            if self._send_texts:
                await self._direct({"type": SEND_TEXTS, "texts": texts}, True)
                return
        for text in texts:
            await self.put_text(text)

    def write_texts(self, texts: list[str], at_once: bool = False) -> bool:
        """Send ``texts`` now, without waiting, when nothing is queued or being sent and the server
        takes them at once; False when nothing was sent (then ``put_texts`` them). ``at_once``:
        nothing else is expected in this turn, so they need not wait for the turn's other frames."""
        return not self.closed and self._free() and self._written(texts, at_once, True)

    def _free(self) -> bool:
        """Whether a frame can go straight out: nothing queued, nothing being sent."""
        return not self._busy and not self._writing and self._queue.empty()

    def _written(self, texts: list[str], at_once: bool, activity: bool) -> bool:
        """Whether the server's writer took ``texts`` at once (call only when ``_free``)."""
        write = self._text_writer
        if write is None or not write(texts, at_once):
            return False
        self.last_sent = self._loop.time()
        if activity:
            self.last_activity = self.last_sent
        return True

    async def _direct(self, message: MutableMapping[str, Any], activity: bool) -> None:
        loop = asyncio.get_running_loop()
        self._busy = True
        self.blocked_since = loop.time()
        try:
            await self._send(message)
        except Exception:  # the client went away (uvicorn raises ClientDisconnected, an OSError)
            self.closed = True
            self._on_broken()
            raise OutboxClosed from None
        finally:
            self._busy = False
            self.blocked_since = None
        self.last_sent = loop.time()
        if activity:
            self.last_activity = self.last_sent

    async def _enqueue(self, text: str, activity: bool) -> None:
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            try:
                await asyncio.wait_for(self._queue.put(text), self._timeout)
            except TimeoutError:
                self._on_stuck()
                raise OutboxClosed from None
            if self.closed:
                raise OutboxClosed from None
        self.peak = max(self.peak, self._queue.qsize())
        if activity:
            self.last_activity = asyncio.get_running_loop().time()

    def stuck(self, now: float) -> bool:
        """Whether a direct send has been blocked for longer than ``timeout`` (then it calls
        ``on_stuck``, as a queue that stays full does)."""
        if self.blocked_since is None or now - self.blocked_since < self._timeout:
            return False
        self._on_stuck()
        return True

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        queue, send = self._queue, self._send
        while True:
            text = await queue.get()
            if text is None:
                return
            self._writing = True
            try:
                await send({"type": "websocket.send", "text": text})
            except Exception:  # the client went away (uvicorn raises ClientDisconnected, an OSError)
                self.closed = True
                self._on_broken()
                return
            finally:
                self._writing = False
            self.last_sent = loop.time()

    async def drain(self, timeout: float) -> bool:
        """Stop taking frames and write those queued, for up to ``timeout`` seconds; whether all went."""
        self.closed = True
        writer = self._writer
        if writer is None or writer.done():
            return writer is not None and not writer.cancelled()

        async def finish() -> None:
            await self._queue.put(None)
            await asyncio.wait((writer,))

        try:
            await asyncio.wait_for(finish(), timeout)
        except TimeoutError:
            await self.abandon()
            return False
        return True

    async def abandon(self) -> None:
        """Stop writing at once and drop whatever is queued."""
        self.closed = True
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        while not self._queue.empty():
            self._queue.get_nowait()


class MessageRate:
    """At most ``limit`` messages in any rolling 60 seconds of ``clock`` (None: unlimited)."""

    WINDOW = 60.0

    def __init__(self, limit: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._times: deque[float] = deque()

    def admit(self) -> float | None:
        """Count one message; None when admitted, else the seconds until one would be."""
        if self._limit is None:
            return None
        now = self._clock()
        times = self._times
        while times and times[0] <= now - self.WINDOW:
            times.popleft()
        if len(times) >= self._limit:
            return max(times[0] + self.WINDOW - now, 0.0) if times else self.WINDOW
        times.append(now)
        return None
