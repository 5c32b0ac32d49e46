"""An HTTP simulator upstream on loopback and its request log: whether a stream was cut."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire

__all__ = ["SIM_KEY_ENV", "cut_entry", "ledgered_config", "sim_upstream"]

SIM_KEY_ENV = "CG_TEST_SIM_UPSTREAM_KEY"

WAIT = 30.0  # seconds: a generous bound for anything a loopback test waits for


@pytest.fixture
def sim_upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An HTTP simulator on loopback (its request log at ``/_sim/log``); its key in ``SIM_KEY_ENV``
    (import this fixture into a test module to use it)."""
    monkeypatch.setenv(SIM_KEY_ENV, "sk-ant-sim-upstream-key")
    with LiveServer(create_simulator()) as upstream:
        yield upstream.base_url


async def cut_entry(sim_url: str) -> dict[str, Any]:
    """The simulator's log entry of the cut stream, once it has noticed the cut."""
    deadline = time.monotonic() + WAIT
    while True:
        entries = orjson.loads(_wire.call(sim_url, "GET", "/_sim/log").body)["data"]
        if entries and entries[-1]["disconnected"]:
            entry: dict[str, Any] = entries[-1]
            return entry
        assert time.monotonic() < deadline, f"the upstream stream was never cut: {entries}"
        await asyncio.sleep(0.02)  # polling the simulator's log, not synchronising


def ledgered_config(sim_url: str, db: Path) -> dict[str, Any]:
    """A gateway sending every model to the simulator at ``sim_url``, its ledger in ``db``."""
    deployment = {"provider": "anthropic", "base_url": sim_url, "api_key": f"env:{SIM_KEY_ENV}"}
    return {
        "models": [{"name": "*", "deployments": [deployment]}],
        "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
    }
