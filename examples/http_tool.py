"""A tool that calls an HTTP API under a timeout, run through the tool loop.

    python examples/http_tool.py                                 # against an in-process simulator
    python examples/http_tool.py --base-url URL --api-key KEY    # against a real endpoint

The API is a tiny local ASGI app served on loopback. The tool's policy timeout bounds each call
(the HTTP client has its own, longer, timeout as a backstop); a slow API gives the model a clear
"timed out" result instead of a stuck turn.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from claudegate.client import AsyncClient
from claudegate.simulator import create_app
from claudegate.testing import LiveServer
from claudegate.tools import RunResult, Tool, ToolError, ToolRegistry, ToolRunner, tool

MODEL = "claude-sonnet-4-5"


def create_quotes_api(delay: float = 0.0) -> Starlette:
    """The demo API: ``GET /quotes/{symbol}`` answers after ``delay`` seconds."""

    async def quote(request: Request) -> JSONResponse:
        await asyncio.sleep(delay)
        symbol = request.path_params["symbol"].upper()
        price = 50 + zlib.crc32(symbol.encode()) % 5000 / 100
        return JSONResponse({"symbol": symbol, "price": price, "currency": "EUR"})

    return Starlette(routes=[Route("/quotes/{symbol}", quote)])


def make_quote_tool(api_url: str, *, timeout: float = 2.0) -> Tool:
    """The ``get_quote`` tool calling ``api_url`` (each call cut off after ``timeout`` seconds)."""
    backstop = aiohttp.ClientTimeout(total=timeout * 2)

    async def get_quote(symbol: str) -> dict[str, object]:
        """Latest price of a stock.

        Args:
            symbol: Ticker symbol, e.g. "ACME".
        """
        async with (
            aiohttp.ClientSession(timeout=backstop) as session,
            session.get(f"{api_url}/quotes/{symbol}") as response,
        ):
            if response.status != 200:
                raise ToolError(f"the quotes API answered {response.status}")
            body: dict[str, object] = await response.json()
            return body

    return tool(timeout=timeout)(get_quote)


@contextmanager
def endpoint(base_url: str | None) -> Iterator[str]:
    """The given base URL, or an in-process simulator's."""
    if base_url is not None:
        yield base_url
        return
    with LiveServer(create_app()) as server:
        yield server.base_url


async def ask(base_url: str, api_key: str, registry: ToolRegistry, question: str) -> RunResult:
    """Run the tool loop for one question."""
    async with AsyncClient(api_key=api_key, base_url=base_url) as client:
        runner = ToolRunner(client, registry)
        return await runner.run(
            model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": question}]
        )


def main(argv: list[str] | None = None) -> None:
    """Ask for a quote; ``--api-delay`` slower than ``--timeout`` shows the timeout result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base-url")
    parser.add_argument("--api-key", default="sk-example-000000")
    parser.add_argument("--api-delay", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=2.0)
    options = parser.parse_args(argv)
    with LiveServer(create_quotes_api(options.api_delay)) as api, endpoint(options.base_url) as base_url:
        registry = ToolRegistry([make_quote_tool(api.base_url, timeout=options.timeout)])
        result = asyncio.run(ask(base_url, options.api_key, registry, "Use get_quote: price of ACME?"))
    for item in result.tool_results:
        print(f"{item.name} ({item.outcome}): {item.content}")
    print(result.text)


if __name__ == "__main__":
    main(sys.argv[1:])
