"""Client throughput: claudegate's client beside the official ``anthropic`` SDK, same upstream.

    .venv/bin/python bench/client.py [--seconds 3] [--concurrency 50]

The simulator runs in its own process on core 1; both clients run here, on core 0, one after the
other, against the same simulator: requests/s for JSON calls and events/s for streams. The SSE
decoder's MB/s is measured in the same run. Targets: ours ≥ 2× the official SDK's requests/s,
decoder ≥ 50 MB/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anthropic

from bench._common import pin_to_core, run_for, simulator_process
from bench.sse_decoder import measure as measure_decoder
from claudegate.client import AsyncClient

MODEL = "claude-sonnet-5"
KEY = "sk-bench-0000000000"
WIRE_EVENTS = frozenset(
    {"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta"}
    | {"message_stop", "ping"}
)
JSON_ARGS: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
}
STREAM_ARGS: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 60,
    "messages": [
        {"role": "user", "content": "Tell me about the quick brown fox that jumps over the lazy dog."}
    ],
}


async def measure(
    seconds: float,
    concurrency: int,
    create: Callable[[], Awaitable[int]],
    stream: Callable[[], Awaitable[int]],
) -> dict[str, float]:
    """Warm up, then requests/s of ``create`` and events/s of ``stream`` (each returns a count)."""
    await run_for(0.5, concurrency, create)
    calls, _, elapsed = await run_for(seconds, concurrency, create)
    streams, events, stream_elapsed = await run_for(seconds, concurrency, stream)
    per_stream = events / max(streams, 1)
    return {"rps": calls / elapsed, "events": events / stream_elapsed, "per_stream": per_stream}


async def ours(base_url: str, seconds: float, concurrency: int) -> dict[str, float]:
    async with AsyncClient(api_key=KEY, base_url=base_url) as client:

        async def create() -> int:
            await client.messages.create(**JSON_ARGS)
            return 1

        async def stream() -> int:
            count = 0
            async with client.messages.stream(**STREAM_ARGS) as s:
                async for _ in s:  # typed events, as a user reads them
                    count += 1
            return count

        return await measure(seconds, concurrency, create, stream)


async def official(base_url: str, seconds: float, concurrency: int) -> dict[str, float]:
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=base_url, max_retries=0)
    try:

        async def create() -> int:
            await client.messages.create(**JSON_ARGS)
            return 1

        async def stream() -> int:
            count = 0
            async with client.messages.stream(**STREAM_ARGS) as s:
                async for event in s:
                    # the SDK also yields events it derives (text, input_json, ...): count the wire's only
                    count += event.type in WIRE_EVENTS
            return count

        return await measure(seconds, concurrency, create, stream)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    pin_to_core(0)
    with simulator_process(core=1) as base_url:
        mine = asyncio.run(ours(base_url, args.seconds, args.concurrency))
        theirs = asyncio.run(official(base_url, args.seconds, args.concurrency))
    decoder = measure_decoder(1.0)
    print(f"client benchmark: concurrency {args.concurrency}, {args.seconds:g} s a figure, loopback")
    print(f"{'':24}{'claudegate':>12}{'anthropic SDK':>15}{'ratio':>8}")
    for label, key in (("JSON requests/s", "rps"), ("streamed events/s", "events")):
        print(f"{label:24}{mine[key]:>12,.0f}{theirs[key]:>15,.0f}{mine[key] / theirs[key]:>7.2f}x")
    print(f"{'events per stream':24}{mine['per_stream']:>12.1f}{theirs['per_stream']:>15.1f}")
    for name, value in decoder.items():
        print(f"SSE decoder {name:24}{value:>14,.1f}")
    met = mine["rps"] >= 2 * theirs["rps"] and decoder["lf_mb_per_s"] >= 50
    verdict = "met" if met else "NOT met"
    print(f"targets (requests/s >= 2x official, decoder >= 50 MB/s): {verdict}")


if __name__ == "__main__":
    main()
