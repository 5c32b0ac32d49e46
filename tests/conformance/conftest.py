"""Fixtures for running real clients against a live claudegate endpoint on loopback.

``anthropic_app`` is the one place that decides what the clients talk to: the simulator today;
override it (or parametrize it) to put the gateway in front, and every conformance test follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from claudegate.gateway import create_app as create_gateway
from claudegate.simulator import create_app
from claudegate.testing import LiveServer
from tests.conformance._recorder import ASGIApp, Exchange, RecordingApp


@dataclass(frozen=True)
class RecordedServer:
    """A live endpoint on loopback and the record of every exchange clients had with it."""

    base_url: str
    recorder: RecordingApp

    @property
    def exchanges(self) -> list[Exchange]:
        """Every exchange so far, oldest first."""
        return self.recorder.exchanges


@pytest.fixture(params=["gateway", "simulator"])
def anthropic_app(request: pytest.FixtureRequest) -> ASGIApp:
    """The ASGI app the clients under test are pointed at: the gateway on its embedded defaults
    (every model to the in-process simulator), and the simulator served directly."""
    if request.param == "gateway":
        return create_gateway()
    return create_app()


@pytest.fixture
def server(anthropic_app: ASGIApp) -> Iterator[RecordedServer]:
    """``anthropic_app`` served by uvicorn on a free loopback port, recording every exchange."""
    recorder = RecordingApp(anthropic_app)
    with LiveServer(recorder) as live:
        yield RecordedServer(live.base_url, recorder)
