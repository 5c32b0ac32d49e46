"""What stream observers cost a stream: core streams read to their end, in one run, three ways.

    .venv/bin/python bench/stream_observers.py [--streams 3000] [--max-tokens 400]

In one process pinned to one core, ``--streams`` streams of the in-process simulator are each made
through the gateway core (``GatewayCore.stream``), read to their end as canonical events and
closed (settled): with no pipeline observing streams; with a ``stream.window`` pipeline (windows
of 100 characters, sentence ends too: a sentence is 77 characters here) and a ``stream.completed``
one, their events handed to a publisher that takes them at once; and with the same pipelines
behind a publisher that never moves (the queue fills, the rest is dropped and counted). It prints
microseconds per stream and the ratio to the unobserved run. No model call of the pipelines runs:
the publisher stands in for the event bus, so what is measured is the stream's own path.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import pin_to_core
from claudegate.gateway import GatewayApp, parse_config
from claudegate.gateway.core import Call, Principal

OBSERVING = {"model": "claude-haiku-4-5", "prompt": "{{ payload.text }}"}


def _config(observed: bool) -> dict[str, Any]:
    pipelines = [
        {"name": "tone", "on": "stream.window", "window": {"chars": 100, "sentences": True}, **OBSERVING},
        {"name": "summary", "on": "stream.completed", **OBSERVING},
    ]
    return {
        "models": [{"name": "*", "deployments": [{"provider": "simulator"}]}],
        "events": {"pipelines": pipelines if observed else [], "streams": {"queue": 1000}},
    }


async def _run(observed: bool, publisher: str, streams: int, max_tokens: int) -> tuple[float, int, float]:
    """(µs per stream, characters per stream, stream events dropped)."""
    app = GatewayApp(parse_config(_config(observed)))
    await app.startup()
    taken = 0

    async def at_once(principal: Principal, events: list[Any], *, only: Any) -> list[Any]:
        nonlocal taken
        taken += len(events)
        return []

    async def stuck(principal: Principal, events: list[Any], *, only: Any) -> list[Any]:
        await asyncio.Event().wait()
        return []

    app.events.streams.publish = at_once if publisher == "at once" else stuck
    sentence = "The otters swam along the river bank, looking for food in the shallow water. "
    words = sentence * (max_tokens // 15)  # the simulator's answer echoes it: a sentence each 77 characters
    request = {
        "model": "claude-sonnet-5",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": words}],
    }
    chars = 0
    try:
        started = time.perf_counter()
        for index in range(streams):
            call = Call(Principal(), "anthropic", request, stream=True, request_id=f"req_{index}")
            reply = await app.core.stream(call)
            try:
                async for batch in reply.batches():
                    for event in batch:
                        delta = event.get("delta")
                        if index == 0 and isinstance(delta, dict):
                            chars += len(delta.get("text", ""))
            finally:
                await reply.aclose()
            if index % 50 == 0:
                await asyncio.sleep(0)  # let the publishing task take what waits
        elapsed = time.perf_counter() - started
        dropped = app.events.streams.dropped.total()
    finally:
        await app.shutdown()
    return elapsed / streams * 1e6, chars, dropped


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=3000)
    parser.add_argument("--max-tokens", type=int, default=400)
    args = parser.parse_args()
    pin_to_core(0)
    await _run(False, "at once", 200, args.max_tokens)  # warm up
    plain, chars, _ = await _run(False, "at once", args.streams, args.max_tokens)
    taken, _, _ = await _run(True, "at once", args.streams, args.max_tokens)
    stuck, _, dropped = await _run(True, "stuck", args.streams, args.max_tokens)
    print(f"{args.streams} streams of {chars} characters each, through the core (in-process simulator)")
    print(f"  no observer                          {plain:8.1f} µs/stream")
    print(f"  observed, publisher takes at once    {taken:8.1f} µs/stream  ({taken / plain:.2f}×)")
    ratio = stuck / plain
    print(
        f"  observed, publisher stuck            {stuck:8.1f} µs/stream  ({ratio:.2f}×, {dropped:.0f} lost)"
    )


if __name__ == "__main__":
    asyncio.run(main())
