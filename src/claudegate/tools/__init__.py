"""The tool runtime: typed tools, validated and cached, run in parallel, looped to the final answer.

>>> from claudegate.tools import ToolRegistry, ToolRunner, tool
>>> @tool(timeout=5)
... async def add(a: int, b: int) -> int:
...     '''Add two integers.'''
...     return a + b
>>> runner = ToolRunner(client, ToolRegistry([add]))
>>> result = await runner.run(model="claude-sonnet-4-5", max_tokens=512,
...                           messages=[{"role": "user", "content": "add 2 and 3"}])
"""

from __future__ import annotations

from claudegate.tools._assembler import AssembledArguments, ToolArgumentAssembler
from claudegate.tools._cache import MemoryToolCache, RedisToolCache, ToolCache, cache_key
from claudegate.tools._calls import ToolCall, ToolResult
from claudegate.tools._docstrings import ParsedDocstring, parse_docstring
from claudegate.tools._executor import ToolExecutor
from claudegate.tools._handlers import serialize_result
from claudegate.tools._metrics import LATENCY_BUCKETS, InMemoryToolMetrics, Outcome, ToolMetrics, ToolStats
from claudegate.tools._otel import OpenTelemetryToolMetrics
from claudegate.tools._registry import ToolRegistry
from claudegate.tools._runner import (
    ModelEvent,
    RunEvent,
    RunFinished,
    RunResult,
    RunStop,
    RunUsage,
    ToolCallFinished,
    ToolCallStarted,
    ToolRunner,
)
from claudegate.tools._signals import ToolError, ToolRetry
from claudegate.tools._tool import TOOL_NAME_PATTERN, Tool, ToolPolicy, tool

__all__ = [
    "LATENCY_BUCKETS",
    "TOOL_NAME_PATTERN",
    "AssembledArguments",
    "InMemoryToolMetrics",
    "MemoryToolCache",
    "ModelEvent",
    "OpenTelemetryToolMetrics",
    "Outcome",
    "ParsedDocstring",
    "RedisToolCache",
    "RunEvent",
    "RunFinished",
    "RunResult",
    "RunStop",
    "RunUsage",
    "Tool",
    "ToolArgumentAssembler",
    "ToolCache",
    "ToolCall",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolError",
    "ToolExecutor",
    "ToolMetrics",
    "ToolPolicy",
    "ToolRegistry",
    "ToolResult",
    "ToolRetry",
    "ToolRunner",
    "ToolStats",
    "cache_key",
    "parse_docstring",
    "serialize_result",
    "tool",
]
