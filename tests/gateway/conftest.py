"""Shared fixtures: gateways served by a real uvicorn on loopback, built from a config dict."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from claudegate.gateway import GatewayApp, GatewayConfig, create_app, parse_config
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway._fuzz_tally import TALLY


@dataclass(frozen=True)
class Live:
    """A gateway on loopback, with its app for in-process inspection."""

    app: GatewayApp
    base_url: str


@contextmanager
def serve(config: GatewayConfig | dict[str, Any] | None = None) -> Iterator[Live]:
    """A gateway for ``config`` (None: the default, every model to the simulator) on a free port."""
    app = create_app(parse_config(config) if isinstance(config, dict) else config)
    with LiveServer(app) as server:
        yield Live(app, server.base_url)


def simulator_route(name: str = "*", **route: Any) -> dict[str, Any]:
    """A route served by the in-process simulator."""
    return {"name": name, "deployments": [{"provider": "simulator"}], **route}


@pytest.fixture(scope="module")
def gateway() -> Iterator[Live]:
    """The default gateway (no config: every model name to the in-process simulator), one per module."""
    with serve() as live:
        yield live


@pytest.fixture(scope="module")
def openai_backed() -> Iterator[Live]:
    """A gateway whose every model goes to an OpenAI-compatible upstream (the simulator's
    ``/v1/chat/completions`` on loopback), one per module."""
    with LiveServer(create_simulator()) as upstream:
        route = {"name": "*", "deployments": [{"provider": "openai", "base_url": upstream.base_url + "/v1"}]}
        with serve({"models": [route]}) as live:
            yield live


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The schemathesis run's figures (``test_fuzz.py``), when it ran: requests, operations, 5xx."""
    if TALLY.requests:
        terminalreporter.section("schemathesis against /openapi.json")
        for line in TALLY.lines():
            terminalreporter.write_line(line)
