"""A private event loop on a daemon thread, so the sync client can run the async one."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

from claudegate.errors import UserError

__all__ = ["Portal"]

T = TypeVar("T")

_DONE: Any = object()
_AHEAD = 64
"""How many items an iterator may run ahead of the thread that consumes them."""


class _Raised:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Portal:
    """Runs coroutines on its own loop thread and blocks the calling thread for the result."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise UserError("this client is closed; create a new one")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="claudegate-portal", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the portal loop and return its result (re-raising its exception)."""
        try:
            loop = self._ensure_loop()
        except BaseException:
            coro.close()
            raise
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("the sync client cannot be called from inside its own event loop")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """Drive an async iterator from the calling thread.

        One task on the portal loop pumps items into a queue that runs at most ``_AHEAD`` items
        ahead, so each item costs a queue hand-off rather than a cross-thread round trip.
        """
        loop = self._ensure_loop()
        items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        credits = asyncio.Semaphore(_AHEAD)  # used on the loop only; released from here by call_soon

        async def pump() -> None:
            try:
                async for item in iterator:
                    await credits.acquire()
                    items.put(item)
            except BaseException as exc:  # handed to the consumer, who raises it
                items.put(_Raised(exc))
            else:
                items.put(_DONE)
            finally:
                closer = getattr(iterator, "aclose", None)
                if closer is not None:
                    await closer()

        future = asyncio.run_coroutine_threadsafe(pump(), loop)
        finished = False
        try:
            while True:
                item = items.get()
                if item is _DONE:
                    finished = True
                    return
                if isinstance(item, _Raised):
                    finished = True
                    if isinstance(item.error, asyncio.CancelledError):
                        return
                    raise item.error
                loop.call_soon_threadsafe(credits.release)
                yield item
        finally:
            if not finished:
                future.cancel()
            try:
                future.result(timeout=10)
            except (asyncio.CancelledError, TimeoutError, Exception):
                pass

    def close(self) -> None:
        """Stop the loop thread (idempotent); the portal refuses work afterwards."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(timeout=5)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        if not thread.is_alive():
            loop.close()
