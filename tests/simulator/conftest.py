from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import anthropic
import pytest

from claudegate.simulator import SimulatorApp, SimulatorConfig, create_app
from claudegate.testing import LiveServer

API_KEY = "sk-ant-test"


@dataclass(frozen=True)
class Live:
    """A simulator served on loopback, with its app for in-process inspection."""

    app: SimulatorApp
    base_url: str


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """One simulator per test module (a fast batch delay, everything else at its defaults)."""
    app = create_app(SimulatorConfig(batch_delay=0.2))
    with LiveServer(app) as server:
        yield Live(app, server.base_url)


@pytest.fixture
def server(live: Live) -> Live:
    """The module's simulator with its log, fault counts and cache cleared."""
    live.app.simulator.log.clear()
    live.app.simulator.faults.reset()
    live.app.simulator.cache.clear()
    return live


@pytest.fixture
async def client(server: Live) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The official SDK pointed at the simulator, with retries off."""
    async with anthropic.AsyncAnthropic(base_url=server.base_url, api_key=API_KEY, max_retries=0) as sdk:
        yield sdk
