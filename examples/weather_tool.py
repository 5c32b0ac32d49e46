"""A tool with an enum and numeric bounds, run through the tool loop.

    python examples/weather_tool.py                              # against an in-process simulator
    python examples/weather_tool.py --base-url URL --api-key KEY # against a real endpoint

The schema the model sees says ``unit`` is one of two words and ``days`` is 1 to 7; arguments
outside it never reach the function: they go back to the model as an ``is_error`` result that
names the field, so it can correct itself.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from pydantic import Field

from claudegate.client import AsyncClient
from claudegate.simulator import create_app
from claudegate.testing import LiveServer
from claudegate.tools import RunResult, ToolCall, ToolExecutor, ToolRegistry, ToolResult, ToolRunner, tool

MODEL = "claude-sonnet-4-5"
_BASE_CELSIUS = {"paris": 18.0, "oslo": 9.0, "lima": 21.0}


@tool(timeout=5)
async def get_forecast(
    city: str,
    unit: Literal["celsius", "fahrenheit"] = "celsius",
    days: Annotated[int, Field(ge=1, le=7)] = 3,
) -> list[dict[str, float | int | str]]:
    """Daily forecast for a city.

    Args:
        city: City name, e.g. "Paris".
        unit: Temperature unit.
        days: How many days ahead, 1 to 7.
    """
    base = _BASE_CELSIUS.get(city.lower(), 15.0)
    forecast: list[dict[str, float | int | str]] = []
    for day in range(1, days + 1):
        celsius = base + (day % 3) - 1
        value = celsius if unit == "celsius" else celsius * 9 / 5 + 32
        forecast.append({"day": day, "temperature": round(value, 1), "unit": unit})
    return forecast


@contextmanager
def endpoint(base_url: str | None) -> Iterator[str]:
    """The given base URL, or an in-process simulator's."""
    if base_url is not None:
        yield base_url
        return
    with LiveServer(create_app()) as server:
        yield server.base_url


async def ask(base_url: str, api_key: str, question: str) -> RunResult:
    """Run the tool loop for one question."""
    async with AsyncClient(api_key=api_key, base_url=base_url) as client:
        runner = ToolRunner(client, ToolRegistry([get_forecast]))
        return await runner.run(
            model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": question}]
        )


async def out_of_bounds() -> ToolResult:
    """What the model gets back when it asks for more days than the schema allows."""
    with ToolExecutor([get_forecast]) as executor:
        return await executor.run(ToolCall("toolu_example", "get_forecast", {"city": "Paris", "days": 9}))


def main(argv: list[str] | None = None) -> None:
    """Ask for a forecast through the loop, then show an out-of-bounds call refused."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base-url")
    parser.add_argument("--api-key", default="sk-example-000000")
    options = parser.parse_args(argv)
    with endpoint(options.base_url) as base_url:
        result = asyncio.run(ask(base_url, options.api_key, "Use get_forecast: weather in Paris this week?"))
    for item in result.tool_results:
        print(f"{item.name} ({item.outcome}): {item.content}")
    print(result.text)
    refused = asyncio.run(out_of_bounds())
    print(f"days=9 -> is_error={refused.is_error}: {refused.content}")


if __name__ == "__main__":
    main(sys.argv[1:])
