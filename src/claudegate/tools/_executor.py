"""Runs tool calls: validation, then each tool's handler chain, then one result per call.

Whatever happens inside a tool becomes a ``ToolResult``; nothing a tool raises escapes, except
cancellation. Signals keep their message (``ToolRetry``, ``ToolError``); other exceptions become
``"<Type>: <message>"`` without a traceback. With an OpenTelemetry ``tracer``, each call is an
``execute_tool <name>`` span (GenAI semantic conventions; never the arguments or the result),
current while the tool runs so that the tool's own spans nest in it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING

from claudegate import _semconv as sc
from claudegate.errors import UserError
from claudegate.tools._cache import MemoryToolCache, ToolCache
from claudegate.tools._calls import ToolCall, ToolResult
from claudegate.tools._handlers import (
    CacheHandler,
    ConcurrencyHandler,
    Handler,
    Invocation,
    InvokeHandler,
    RetryHandler,
    TimeoutHandler,
)
from claudegate.tools._metrics import Outcome, ToolMetrics
from claudegate.tools._registry import ToolRegistry
from claudegate.tools._signals import ToolError, ToolRetry
from claudegate.tools._tool import Tool
from claudegate.tools._validation import ArgumentsInvalid

if TYPE_CHECKING:  # the caller brings its tracer
    from opentelemetry.trace import Tracer

__all__ = ["ToolExecutor"]

_perf = time.perf_counter


class ToolExecutor:
    """Run calls of a registry's tools under each tool's policy, reporting to ``metrics``.

    >>> executor = ToolExecutor(registry, metrics=InMemoryToolMetrics())
    >>> results = await executor.run_many([ToolCall("toolu_1", "get_weather", {"city": "Paris"})])

    ``cache`` is used by tools with a ``cache_ttl`` (default: an in-memory cache);
    ``max_concurrency`` caps calls of all tools at once; sync tools run on a pool of
    ``thread_workers`` threads (a timed-out sync call keeps its thread until it returns);
    ``tracer`` (OpenTelemetry) makes a span of each call.
    """

    def __init__(
        self,
        registry: ToolRegistry | Iterable[Tool],
        *,
        metrics: ToolMetrics | None = None,
        cache: ToolCache | None = None,
        max_concurrency: int | None = None,
        thread_workers: int = 8,
        tracer: Tracer | None = None,
    ) -> None:
        self.registry = registry if isinstance(registry, ToolRegistry) else ToolRegistry(registry)
        if max_concurrency is not None and max_concurrency < 1:
            raise UserError("max_concurrency must be >= 1", field="max_concurrency")
        self.metrics = metrics
        self.tracer = tracer
        self.cache: ToolCache = cache if cache is not None else MemoryToolCache()
        self._pool = ThreadPoolExecutor(max_workers=thread_workers, thread_name_prefix="claudegate-tool")
        shared = asyncio.Semaphore(max_concurrency) if max_concurrency is not None else None
        self._chains: dict[str, tuple[Tool, Handler]] = {
            item.name: (item, self._chain(item, shared)) for item in self.registry
        }

    def _chain(self, item: Tool, shared: asyncio.Semaphore | None) -> Handler:
        policy = item.policy
        handler: Handler = InvokeHandler(self._pool)
        if policy.timeout is not None:
            handler = TimeoutHandler(handler, policy.timeout)
        if policy.retries:
            handler = RetryHandler(handler, policy.retries, policy.retry_on, policy.retry_delay)
        if policy.max_concurrency is not None:
            handler = ConcurrencyHandler(handler, asyncio.Semaphore(policy.max_concurrency))
        if shared is not None:
            handler = ConcurrencyHandler(handler, shared)
        if policy.cache_ttl is not None:
            handler = CacheHandler(handler, self.cache, policy.cache_ttl)
        return handler

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one call and return its result (never raises for what the tool does)."""
        if self.tracer is None:
            return await self._run(call)
        from opentelemetry.trace import SpanKind, Status, StatusCode

        attributes = {
            sc.GEN_AI_OPERATION_NAME: sc.OPERATION_EXECUTE_TOOL,
            sc.GEN_AI_TOOL_NAME: call.name,
            sc.GEN_AI_TOOL_CALL_ID: call.id,
        }
        name = f"{sc.OPERATION_EXECUTE_TOOL} {call.name}"
        with self.tracer.start_as_current_span(name, kind=SpanKind.INTERNAL, attributes=attributes) as span:
            result = await self._run(call)
            span.set_attribute(sc.CLAUDEGATE_TOOL_OUTCOME, result.outcome)
            if result.is_error:
                span.set_attribute(sc.ERROR_TYPE, result.outcome)
                span.set_status(Status(StatusCode.ERROR))
            return result

    async def _run(self, call: ToolCall) -> ToolResult:
        start = _perf()
        entry = self._chains.get(call.name)
        if entry is None:
            known = ", ".join(self._chains) or "none"
            return self._finish(call, f"unknown tool {call.name!r} (tools: {known})", "unknown", start)
        item, handler = entry
        try:
            invocation = Invocation(item, call, item.validate_arguments(call.input))
        except ArgumentsInvalid as exc:
            return self._finish(call, exc.message, "invalid", start)
        try:
            content = await handler.handle(invocation)
        except ToolRetry as signal:
            return self._finish(call, signal.message, "retry", start)
        except ToolError as signal:
            return self._finish(call, signal.message, "error", start)
        except TimeoutError as exc:
            if invocation.timed_out:
                message = f"the tool {call.name!r} timed out after {item.policy.timeout:g} s"
                return self._finish(call, message, "timeout", start)
            return self._finish(call, _describe(exc), "error", start)
        except Exception as exc:
            return self._finish(call, _describe(exc), "error", start)
        outcome: Outcome = "cache_hit" if invocation.cache_hit else "ok"
        seconds = _perf() - start
        if self.metrics is not None:
            self.metrics.observe(call.name, outcome, seconds)
        return ToolResult(call.id, call.name, content, False, outcome, seconds)

    def _finish(self, call: ToolCall, message: str, outcome: Outcome, start: float) -> ToolResult:
        seconds = _perf() - start
        if self.metrics is not None:
            self.metrics.observe(call.name, outcome, seconds)
        return ToolResult(call.id, call.name, message, True, outcome, seconds)

    async def run_many(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Run calls in parallel; results come back in the order of ``calls``."""
        if len(calls) == 1:
            return [await self.run(calls[0])]
        return list(await asyncio.gather(*(self.run(call) for call in calls)))

    def close(self) -> None:
        """Release the thread pool (running sync calls finish first)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ToolExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
