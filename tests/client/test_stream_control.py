"""Stream control over a real socket: pause with back-pressure, resume, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from claudegate.client import AsyncClient, ControlledStream
from claudegate.simulator import SimulatorApp, create_app
from claudegate.testing import LiveServer

KEY = "sk-ant-sim-test-000000"
ASK: dict[str, Any] = {
    "model": "claude-sonnet-5",
    "max_tokens": 300,
    "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper"}],
}


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[SimulatorApp, str]]:
    app = create_app()
    with LiveServer(app) as server:
        yield app, server.base_url


async def wait_until_still(control: ControlledStream) -> int:
    """Wait until the reader stops taking events off the wire; return how many it took."""
    seen = -1
    while seen != control.events_read:
        seen = control.events_read
        await asyncio.sleep(0.1)
    return seen


async def test_pause_fills_the_buffer_then_stops_reading(sim: tuple[SimulatorApp, str]) -> None:
    async with AsyncClient(api_key=KEY, base_url=sim[1]) as client:
        async with client.messages.stream(**ASK, extra_headers={"x-sim-latency": "event=5ms"}) as stream:
            control = ControlledStream(stream, buffer_size=4)
            control.pause()
            read_while_paused = await wait_until_still(control)
            assert control.buffered == 4 and read_while_paused == 4
            types: list[str] = []
            control.resume()
            async for event in control:
                types.append(event["type"])
            assert types[0] == "message_start" and types[-1] == "message_stop"
            assert len(types) > 10 and control.events_read == len(types)


async def test_cancel_closes_the_connection(sim: tuple[SimulatorApp, str]) -> None:
    app, base_url = sim
    app.simulator.log.clear()
    async with AsyncClient(api_key=KEY, base_url=base_url) as client:
        async with client.messages.stream(**ASK, extra_headers={"x-sim-latency": "event=20ms"}) as stream:
            control = ControlledStream(stream, buffer_size=8)
            received: list[str] = []
            async for event in control:
                received.append(event["type"])
                if len(received) == 3:
                    await control.cancel()
            assert len(received) == 3 and control.cancelled
    for _ in range(50):
        entries = app.simulator.log.entries()
        if entries and entries[-1]["disconnected"]:
            break
        await asyncio.sleep(0.05)
    assert app.simulator.log.entries()[-1]["disconnected"] is True
