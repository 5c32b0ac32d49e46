from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import pytest
import redis.asyncio
from pydantic import Field

from claudegate.tools import (
    InMemoryToolMetrics,
    MemoryToolCache,
    RedisToolCache,
    ToolCall,
    ToolError,
    ToolExecutor,
    ToolRetry,
    tool,
)


@tool
async def book(seats: Annotated[int, Field(ge=1, le=4)], name: str) -> str:
    """Book seats."""
    return f"{seats} for {name}"


async def test_schema_violation_comes_back_as_is_error_naming_the_field() -> None:
    metrics = InMemoryToolMetrics()
    executor = ToolExecutor([book], metrics=metrics)
    result = await executor.run(ToolCall("toolu_1", "book", {"seats": 9, "name": "Ada"}))
    assert result.is_error and result.outcome == "invalid"
    assert "seats" in result.content and "maximum of 4" in result.content
    assert result.to_block() == {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": result.content,
        "is_error": True,
    }
    ok = await executor.run(ToolCall("toolu_2", "book", {"seats": 2, "name": "Ada"}))
    assert ok.to_block() == {"type": "tool_result", "tool_use_id": "toolu_2", "content": "2 for Ada"}
    assert metrics.stats["book"].calls == 2 and metrics.stats["book"].invalid == 1


async def test_timeout_fails_the_call_and_is_counted() -> None:
    @tool(timeout=0.05)
    async def slow() -> str:
        """Too slow."""
        await asyncio.sleep(5)
        return "late"

    metrics = InMemoryToolMetrics()
    started = time.perf_counter()
    result = await ToolExecutor([slow], metrics=metrics).run(ToolCall("t", "slow", {}))
    assert time.perf_counter() - started < 1
    assert result.is_error and result.outcome == "timeout" and "timed out after 0.05 s" in result.content
    assert metrics.stats["slow"].timeouts == 1


async def test_a_tools_own_timeout_error_is_an_error_not_our_timeout() -> None:
    @tool(timeout=5)
    async def upstream() -> str:
        """Raises its own timeout."""
        raise TimeoutError("upstream took too long")

    result = await ToolExecutor([upstream]).run(ToolCall("t", "upstream", {}))
    assert result.outcome == "error" and result.content == "TimeoutError: upstream took too long"


async def test_retry_on_declared_exception_then_success() -> None:
    attempts: list[int] = []

    @tool(retries=2, retry_on=(ConnectionError,))
    async def flaky() -> str:
        """Fails twice."""
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("reset")
        return "done"

    result = await ToolExecutor([flaky]).run(ToolCall("t", "flaky", {}))
    assert result.content == "done" and not result.is_error and len(attempts) == 3


async def test_retry_budget_runs_out_and_undeclared_types_are_not_retried() -> None:
    attempts: list[str] = []

    @tool(retries=1, retry_on=(ConnectionError,))
    async def broken(kind: str) -> str:
        """Always fails."""
        attempts.append(kind)
        raise ConnectionError("down") if kind == "conn" else KeyError("k")

    executor = ToolExecutor([broken])
    first = await executor.run(ToolCall("t", "broken", {"kind": "conn"}))
    second = await executor.run(ToolCall("t", "broken", {"kind": "key"}))
    assert first.content == "ConnectionError: down" and first.is_error
    assert second.content == "KeyError: 'k'"
    assert attempts == ["conn", "conn", "key"]


async def test_signals_keep_their_message() -> None:
    @tool
    async def picky(mode: str) -> str:
        """Signals."""
        if mode == "retry":
            raise ToolRetry("use an ISO date")
        raise ToolError("the shop is closed")

    executor = ToolExecutor([picky])
    retry, error = await executor.run_many(
        [ToolCall("a", "picky", {"mode": "retry"}), ToolCall("b", "picky", {"mode": "error"})]
    )
    assert (retry.content, retry.outcome, retry.is_error) == ("use an ISO date", "retry", True)
    assert (error.content, error.outcome) == ("the shop is closed", "error")


async def test_unknown_tool_is_an_error_result() -> None:
    result = await ToolExecutor([book]).run(ToolCall("t", "nope", {}))
    assert result.is_error and result.outcome == "unknown" and "'nope'" in result.content


async def test_cache_hit_skips_the_call_and_version_changes_the_key() -> None:
    calls: list[int] = []

    def make(version: str) -> object:
        @tool(cache_ttl=60, version=version, name="square")
        async def square(n: int) -> int:
            """Square."""
            calls.append(n)
            return n * n

        return square

    cache = MemoryToolCache()
    metrics = InMemoryToolMetrics()
    v1 = ToolExecutor([make("1")], cache=cache, metrics=metrics)  # type: ignore[list-item]
    first = await v1.run(ToolCall("a", "square", {"n": 3}))
    second = await v1.run(ToolCall("b", "square", {"n": 3}))
    assert (first.content, second.content) == ("9", "9")
    assert second.outcome == "cache_hit" and calls == [3]
    assert metrics.stats["square"].cache_hits == 1
    v2 = ToolExecutor([make("2")], cache=cache)  # type: ignore[list-item]
    await v2.run(ToolCall("c", "square", {"n": 3}))
    assert calls == [3, 3]


async def test_errors_are_not_cached() -> None:
    calls: list[int] = []

    @tool(cache_ttl=60)
    async def fails() -> str:
        """Fails."""
        calls.append(1)
        raise ToolError("no")

    executor = ToolExecutor([fails])
    await executor.run(ToolCall("a", "fails", {}))
    await executor.run(ToolCall("b", "fails", {}))
    assert len(calls) == 2


async def test_parallel_calls_overlap_and_keep_order() -> None:
    @tool
    async def wait(label: str) -> str:
        """Wait 0.2 s."""
        await asyncio.sleep(0.2)
        return label

    started = time.perf_counter()
    results = await ToolExecutor([wait]).run_many(
        [ToolCall("a", "wait", {"label": "first"}), ToolCall("b", "wait", {"label": "second"})]
    )
    assert time.perf_counter() - started < 0.35
    assert [r.content for r in results] == ["first", "second"]


async def test_sync_tools_run_on_the_thread_pool_in_parallel() -> None:
    threads: list[str] = []

    @tool
    def blocking(n: int) -> int:
        """Blocks its thread."""
        threads.append(threading.current_thread().name)
        time.sleep(0.2)
        return n

    with ToolExecutor([blocking], thread_workers=2) as executor:
        started = time.perf_counter()
        results = await executor.run_many([ToolCall(str(i), "blocking", {"n": i}) for i in range(2)])
        assert time.perf_counter() - started < 0.35
    assert [r.content for r in results] == ["0", "1"]
    assert all(name.startswith("claudegate-tool") for name in threads)


async def test_concurrency_cap_serialises_calls() -> None:
    running = 0
    peak = 0

    @tool(max_concurrency=1)
    async def exclusive() -> str:
        """One at a time."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return "ok"

    await ToolExecutor([exclusive]).run_many([ToolCall(str(i), "exclusive", {}) for i in range(4)])
    assert peak == 1


async def test_output_schema_is_checked_on_every_result() -> None:
    @tool(output={"type": "object", "required": ["temp"]})
    async def reading(ok: bool) -> dict[str, float]:
        """A reading."""
        return {"temp": 1.5} if ok else {}

    executor = ToolExecutor([reading])
    good = await executor.run(ToolCall("a", "reading", {"ok": True}))
    bad = await executor.run(ToolCall("b", "reading", {"ok": False}))
    assert good.content == '{"temp":1.5}' and not good.is_error
    assert bad.is_error and "output schema" in bad.content and "temp" in bad.content


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


async def test_redis_cache_is_shared_between_executors_and_expires(redis_client: redis.asyncio.Redis) -> None:
    calls: list[str] = []

    @tool(cache_ttl=0.2)
    async def lookup(key: str) -> str:
        """Lookup."""
        calls.append(key)
        return key.upper()

    cache = RedisToolCache(redis_client)
    first = await ToolExecutor([lookup], cache=cache).run(ToolCall("a", "lookup", {"key": "k"}))
    second = await ToolExecutor([lookup], cache=cache).run(ToolCall("b", "lookup", {"key": "k"}))
    assert (first.content, second.content, second.outcome) == ("K", "K", "cache_hit")
    await asyncio.sleep(0.3)
    third = await ToolExecutor([lookup], cache=cache).run(ToolCall("c", "lookup", {"key": "k"}))
    assert third.outcome == "ok" and calls == ["k", "k"]


async def test_tool_metrics_show_on_the_gateways_prometheus_endpoint() -> None:
    import urllib.request

    from claudegate.gateway import create_app
    from claudegate.testing import LiveServer
    from claudegate.tools import InMemoryToolMetrics, ToolCall, ToolExecutor, ToolRegistry
    from claudegate.tools import tool as make_tool

    @make_tool
    async def shout(text: str) -> str:
        """Say it louder.

        Args:
            text: What to say.
        """
        return text.upper()

    metrics = InMemoryToolMetrics()
    executor = ToolExecutor(ToolRegistry([shout]), metrics=metrics)
    await executor.run(ToolCall(id="toolu_1", name="shout", input={"text": "hi"}))
    await executor.run(ToolCall(id="toolu_2", name="shout", input={}))
    app = create_app()
    app.core.metrics.registry.register(metrics)
    with LiveServer(app) as server:
        page = urllib.request.urlopen(server.base_url + "/metrics", timeout=5).read().decode()
    assert 'claudegate_tool_calls_total{kind="all",tool="shout"} 2.0' in page
    assert 'claudegate_tool_calls_total{kind="invalid",tool="shout"} 1.0' in page
    assert 'claudegate_tool_duration_seconds_count{tool="shout"} 2.0' in page


async def test_tool_metrics_reach_an_opentelemetry_meter() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from claudegate.tools import OpenTelemetryToolMetrics, ToolCall, ToolExecutor, ToolRegistry
    from claudegate.tools import tool as make_tool

    @make_tool
    async def double(n: int) -> int:
        """Twice n.

        Args:
            n: The number.
        """
        return 2 * n

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    executor = ToolExecutor(
        ToolRegistry([double]), metrics=OpenTelemetryToolMetrics(provider.get_meter("test"))
    )
    await executor.run(ToolCall(id="toolu_1", name="double", input={"n": 2}))
    await executor.run(ToolCall(id="toolu_2", name="double", input={"n": "x"}))
    data = reader.get_metrics_data()
    assert data is not None
    points: dict[tuple[str, Any], Any] = {
        (metric.name, point.attributes["claudegate.tool.outcome"]): point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
        if point.attributes is not None and "claudegate.tool.outcome" in point.attributes
    }
    assert points["claudegate.tool.calls", "ok"].value == 1
    assert points["claudegate.tool.calls", "invalid"].value == 1
    assert points["claudegate.tool.duration", "ok"].count == 1
    provider.shutdown()
