"""Tool runtime throughput on one core: validated executions per second beside the asyncio limit.

    python bench/tools.py [--calls 200000] [--batch 100]

Measures, in one process on one core: a plain ``await`` of the tool function, ``asyncio.gather``
batches of it, then ``ToolExecutor.run`` (validation, timeout, metrics) awaited one by one and
``ToolExecutor.run_many`` in batches. Target: >= 150,000 executions/s, within 2.5x of gather.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import pin_to_core
from claudegate.tools import InMemoryToolMetrics, ToolCall, ToolExecutor, tool


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def _timed(count: int, body: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await body()
    return count / (time.perf_counter() - started)


async def measure(calls: int, batch: int) -> dict[str, float]:
    """Executions per second of each way of running the same function."""
    executor = ToolExecutor([tool(timeout=5.0)(add)], metrics=InMemoryToolMetrics())
    call = ToolCall("toolu_bench", "add", {"a": 2, "b": 3})
    rounds = calls // batch

    async def bare() -> None:
        for _ in range(calls):
            await add(2, 3)

    async def gathered() -> None:
        for _ in range(rounds):
            await asyncio.gather(*[add(2, 3) for _ in range(batch)])

    async def executed() -> None:
        run = executor.run
        for _ in range(calls):
            await run(call)

    async def executed_batches() -> None:
        many = [call] * batch
        for _ in range(rounds):
            await executor.run_many(many)

    await _timed(calls // 10, executed)  # warm up
    return {
        "plain await": await _timed(calls, bare),
        "asyncio.gather": await _timed(rounds * batch, gathered),
        "executor.run": await _timed(calls, executed),
        "executor.run_many": await _timed(rounds * batch, executed_batches),
    }


def main() -> None:
    """Run the measurements and print them with the ratio to the gather limit."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=100)
    options = parser.parse_args()
    pin_to_core(0)
    rates = asyncio.run(measure(options.calls, options.batch))
    for name, rate in rates.items():
        print(f"{name:>20}: {rate:>12,.0f} /s")
    gather = rates["asyncio.gather"]
    for name in ("executor.run", "executor.run_many"):
        print(f"{'gather / ' + name:>30}: {gather / rates[name]:.2f}x")
    target = rates["executor.run"] >= 150_000 and gather / rates["executor.run"] <= 2.5
    print(f"target (>= 150,000/s, within 2.5x of gather): {'met' if target else 'missed'}")


if __name__ == "__main__":
    main()
