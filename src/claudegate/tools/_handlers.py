"""The steps a call passes through: one base handler that runs the function, and small wrappers.

Each wrapper adds one behaviour around the next handler and is installed only for tools that need
it, so a plain tool pays for nothing it did not ask for::

    cache → concurrency limit → retry → timeout → invoke (async await, or sync on the thread pool)
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from concurrent.futures import Executor
from typing import Any

import orjson
from pydantic import BaseModel

from claudegate.tools._cache import ToolCache, cache_key
from claudegate.tools._calls import ToolCall
from claudegate.tools._tool import Tool

_running_loop = asyncio.get_running_loop
_current_task = asyncio.current_task

__all__ = [
    "CacheHandler",
    "ConcurrencyHandler",
    "Handler",
    "Invocation",
    "InvokeHandler",
    "RetryHandler",
    "TimeoutHandler",
    "serialize_result",
]


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def serialize_result(value: Any) -> str:
    """A result as the text the model reads: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return orjson.dumps(value, default=_default).decode()


class Invocation:
    """One call on its way through the handlers (state the wrappers report back)."""

    __slots__ = ("cache_hit", "call", "kwargs", "timed_out", "tool")

    def __init__(self, tool: Tool, call: ToolCall, kwargs: dict[str, Any]) -> None:
        self.tool = tool
        self.call = call
        self.kwargs = kwargs
        self.cache_hit = False
        self.timed_out = False


class Handler:
    """A step of running a call: returns the result text, or raises."""

    async def handle(self, invocation: Invocation) -> str:
        """Run the call (or the next step) and return the result text."""
        raise TypeError(f"{type(self).__name__} does not handle calls")


class InvokeHandler(Handler):
    """The base: await an async function, or run a sync one on the bounded thread pool."""

    def __init__(self, pool: Executor) -> None:
        self._pool = pool

    async def handle(self, invocation: Invocation) -> str:
        """Call the function, check its output, serialise it."""
        tool = invocation.tool
        if tool.is_async:
            if tool.takes_dict:
                value = await tool.function(invocation.kwargs)
            else:
                value = await tool.function(**invocation.kwargs)
        else:
            bound = (
                functools.partial(tool.function, invocation.kwargs)
                if tool.takes_dict
                else functools.partial(tool.function, **invocation.kwargs)
            )
            value = await asyncio.get_running_loop().run_in_executor(self._pool, bound)
        if tool.output is not None:
            value = tool.output.check(value)
        return serialize_result(value)


class _Pending:
    """One call under a deadline; ``fired`` tells our cancellation apart from any other."""

    __slots__ = ("deadline", "done", "fired", "task")

    def __init__(self, deadline: float, task: asyncio.Task[Any]) -> None:
        self.deadline = deadline
        self.task = task
        self.done = False
        self.fired = False


class TimeoutHandler(Handler):
    """Cancel a call still running ``seconds`` after it started: no extra task, one shared timer.

    A tool's timeout is constant, so its calls' deadlines come in start order: they wait in a FIFO
    queue watched by a single timer armed for the oldest one. A call costs an append and a flag,
    where ``asyncio.timeout`` would cost a timer handle on the loop's heap per call.
    """

    def __init__(self, inner: Handler, seconds: float) -> None:
        self._inner = inner
        self._seconds = seconds
        self._queue: deque[_Pending] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def handle(self, invocation: Invocation) -> str:
        """Run the next step under the deadline."""
        loop = _running_loop()
        task = _current_task(loop)  # given the loop, so it is not looked up twice
        if task is None:
            raise RuntimeError("tool calls with a timeout must run inside a task")
        if loop is not self._loop:
            self._loop, self._timer = loop, None
            self._queue.clear()
        queue = self._queue
        entry = _Pending(loop.time() + self._seconds, task)
        queue.append(entry)
        if self._timer is None:
            self._timer = loop.call_at(entry.deadline, self._fire)
        try:
            return await self._inner.handle(invocation)
        except asyncio.CancelledError:
            if entry.fired and task.uncancel() == 0:
                invocation.timed_out = True
                raise TimeoutError from None
            raise
        finally:
            entry.done = True
            while queue and queue[0].done:
                queue.popleft()

    def _fire(self) -> None:
        self._timer = None
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        queue = self._queue
        while queue:
            head = queue[0]
            if head.done:
                queue.popleft()
            elif head.deadline > now:
                self._timer = loop.call_at(head.deadline, self._fire)
                return
            else:
                queue.popleft()
                head.fired = True
                head.task.cancel()


class RetryHandler(Handler):
    """Run again, up to ``retries`` more times, when the call raises one of ``retry_on``."""

    def __init__(
        self, inner: Handler, retries: int, retry_on: tuple[type[BaseException], ...], delay: float
    ) -> None:
        self._inner = inner
        self._retries = retries
        self._retry_on = retry_on
        self._delay = delay

    async def handle(self, invocation: Invocation) -> str:
        """Retry the next step on the declared exception types, doubling the delay each time."""
        attempt = 0
        while True:
            try:
                return await self._inner.handle(invocation)
            except self._retry_on:
                if attempt >= self._retries:
                    raise
            invocation.timed_out = False
            if self._delay:
                await asyncio.sleep(self._delay * 2**attempt)
            attempt += 1


class ConcurrencyHandler(Handler):
    """At most ``limit`` calls through this step at once (others wait their turn)."""

    def __init__(self, inner: Handler, semaphore: asyncio.Semaphore) -> None:
        self._inner = inner
        self._semaphore = semaphore

    async def handle(self, invocation: Invocation) -> str:
        """Wait for a slot, then run the next step."""
        async with self._semaphore:
            return await self._inner.handle(invocation)


class CacheHandler(Handler):
    """Answer from the cache when the same tool, version and arguments ran within ``ttl``."""

    def __init__(self, inner: Handler, cache: ToolCache, ttl: float) -> None:
        self._inner = inner
        self._cache = cache
        self._ttl = ttl

    async def handle(self, invocation: Invocation) -> str:
        """Return a cached result, or run the next step and store what it returns."""
        key = cache_key(invocation.tool.name, invocation.tool.version, invocation.call.input)
        cached = await self._cache.get(key)
        if cached is not None:
            invocation.cache_hit = True
            return cached
        content = await self._inner.handle(invocation)
        await self._cache.set(key, content, self._ttl)
        return content
