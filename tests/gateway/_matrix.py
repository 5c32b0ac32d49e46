"""The fault matrix's bench: one gateway, a route per cell with two ``anthropic`` deployments.

Each cell's route has its own deployment ``one`` (priority 1, its own breaker and health) on the
simulator of the cell's fault, which fails its first ``FAILURES`` requests (the simulator's own
``fault`` setting, so deployment ``two`` never sees it), and ``two`` (priority 2) on a healthy
simulator. Attempts are counted from each simulator's request log. The servers are shared by
the whole matrix because starting and stopping them is most of a cell's cost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from claudegate.simulator import SimulatorApp, SimulatorConfig
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway.conftest import Live, serve

Dialect = Literal["anthropic", "openai"]

FAULTS = ("429;retry-after=1", "529", "500", "reset-before", "reset-mid:3", "error-mid:3", "stall")
AFTER_FIRST_BYTE_WHEN_STREAMED = frozenset({"reset-mid:3", "error-mid:3", "stall"})
MODEL = "claude-sonnet-5"
FAILURES = 2  # requests deployment one fails, and the breaker's failure threshold
OPEN_DURATION = 0.3
READ_TIMEOUT = 0.3  # bounds a stalled upstream
NO_FAULT = "500;times=0"  # overrides a simulator's configured fault: this request gets none
CELL_BOUND = 3.0  # seconds any one request of a cell may take: nothing hangs

DEPLOYMENT_KEY_ENV = "GW_MATRIX_DEPLOYMENT_KEY"
DEPLOYMENT_KEY = "sk-ant-api03-matrix-deployment-7Qz4kP9wX2mV"
CLIENT_KEY = "sk-ant-matrix-client-5Rt8nL3yH6cJ"
ANTHROPIC_CLIENT = {"anthropic-version": "2023-06-01", "x-api-key": CLIENT_KEY}
OPENAI_CLIENT = {"authorization": f"Bearer {CLIENT_KEY}"}


@dataclass(frozen=True)
class Cell:
    """One fault, one response mode, one client dialect."""

    fault: str
    stream: bool
    dialect: Dialect

    @property
    def before_first_byte(self) -> bool:
        """The fault strikes before the gateway has answered anything (so failover is possible)."""
        return not (self.stream and self.fault in AFTER_FIRST_BYTE_WHEN_STREAMED)

    @property
    def id(self) -> str:
        return f"{self.fault}-{'stream' if self.stream else 'json'}-{self.dialect}"


CELLS = [
    Cell(fault, stream, dialect)
    for fault in FAULTS
    for stream in (False, True)
    for dialect in ("anthropic", "openai")
]


@dataclass(frozen=True)
class Lane:
    """One cell's route: its own deployment ``one`` (own breaker) on the fault's simulator, and ``two``."""

    cell: Cell
    model: str
    one_name: str
    breaker: bool
    base_url: str
    one: SimulatorApp
    two: SimulatorApp

    def calls(self) -> tuple[int, int]:
        """Upstream attempts so far on the two simulators (compare before and after a request)."""
        return _calls(self.one), _calls(self.two)

    def health(self) -> dict[str, dict[str, Any]]:
        """``GET /health/deployments``, keyed ``one`` (this lane's) and ``two``."""
        reply = _wire.call(self.base_url, "GET", "/health/deployments")
        assert reply.status == 200
        found = {item["name"]: item for item in reply.json()["deployments"]}
        return {"one": found[self.one_name], "two": found["two"]}


def _calls(app: SimulatorApp) -> int:
    return sum(1 for entry in app.simulator.log.entries() if entry["path"] == "/v1/messages")


def _route_name(cell: Cell, breaker: bool) -> str:
    return f"matrix/{cell.id}/{'breaker' if breaker else 'plain'}"


def gateway_config(faulty: dict[str, str], healthy: str) -> dict[str, Any]:
    """One route per cell, with and without a breaker (opening after ``FAILURES``), short read timeout."""
    routes = []
    for cell in CELLS:
        for breaker in (True, False):
            name = _route_name(cell, breaker)
            common = {"provider": "anthropic", "api_key": f"env:{DEPLOYMENT_KEY_ENV}", "model": MODEL}
            route: dict[str, Any] = {
                "name": name,
                "deployments": [
                    {**common, "name": f"one:{name}", "base_url": faulty[cell.fault], "priority": 1},
                    {**common, "name": "two", "base_url": healthy, "priority": 2},
                ],
            }
            if breaker:
                route["breaker"] = {"failure_threshold": FAILURES, "open_duration": OPEN_DURATION}
            routes.append(route)
    return {"gateway": {"timeouts": {"connect": 1, "read": READ_TIMEOUT, "total": 10}}, "models": routes}


@dataclass(frozen=True)
class Matrix:
    """The gateway, one simulator per fault (failing ``FAILURES`` times) and one healthy simulator."""

    live: Live
    faulty: dict[str, SimulatorApp]
    healthy: SimulatorApp

    def lane(self, cell: Cell, breaker: bool = True) -> Lane:
        """``cell``'s route, its fault count started again, the gateway holding a kept-alive
        connection to deployment one (as it does in production), so every cell is alike."""
        one = self.faulty[cell.fault]
        one.simulator.faults.reset()
        name = _route_name(cell, breaker)
        lane = Lane(cell, name, f"one:{name}", breaker, self.live.base_url, one, self.healthy)
        before = lane.calls()
        warm = Cell(cell.fault, stream=False, dialect="anthropic")
        reply, _elapsed = request(lane.base_url, name, warm, {"x-sim-fault": NO_FAULT})
        assert reply.status == 200 and lane.calls() == (before[0] + 1, before[1]), reply.body[:300]
        return lane


@contextmanager
def matrix() -> Iterator[Matrix]:
    """Serve the whole matrix (the caller has set ``DEPLOYMENT_KEY_ENV``)."""
    with ExitStack() as stack:
        faulty = {
            fault: create_simulator(SimulatorConfig(fault=f"{fault};times={FAILURES}", stall_timeout=5))
            for fault in FAULTS
        }
        healthy = create_simulator()
        urls = {fault: stack.enter_context(LiveServer(app)).base_url for fault, app in faulty.items()}
        healthy_url = stack.enter_context(LiveServer(healthy)).base_url
        live = stack.enter_context(serve(gateway_config(urls, healthy_url)))
        yield Matrix(live, faulty, healthy)


def send(lane: Lane) -> tuple[_wire.Reply, float]:
    """One request of the lane's cell, as its dialect's client sends it; the reply and its duration."""
    return request(lane.base_url, lane.model, lane.cell)


def request(
    base_url: str, model: str, cell: Cell, headers: dict[str, str] | None = None
) -> tuple[_wire.Reply, float]:
    """One request of ``cell``'s shape (mode, dialect) for ``model``; the reply and its duration."""
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello"}],
        "stream": cell.stream,
    }
    if cell.dialect == "anthropic":
        path, sent = "/v1/messages", {**ANTHROPIC_CLIENT, **(headers or {})}
    else:
        path, sent = "/v1/chat/completions", {**OPENAI_CLIENT, **(headers or {})}
    started = time.monotonic()
    reply = _wire.call(base_url, "POST", path, body, sent, timeout=CELL_BOUND)
    return reply, time.monotonic() - started


def assert_served(reply: _wire.Reply, cell: Cell) -> None:
    """A whole, successful answer in the cell's dialect and mode."""
    assert reply.status == 200, reply.body[:300]
    if not cell.stream:
        expected = "message" if cell.dialect == "anthropic" else "chat.completion"
        assert reply.json()["object" if cell.dialect == "openai" else "type"] == expected
    elif cell.dialect == "anthropic":
        names = _wire.frame_names(reply.body)
        assert names[0] == "message_start" and names[-1] == "message_stop", names
        assert "error" not in names
    else:
        chunks = _wire.chat_chunks(reply.body)
        assert reply.body.rstrip().endswith(b"data: [DONE]")
        assert chunks and not any("error" in chunk for chunk in chunks)
        assert any(choice.get("finish_reason") for chunk in chunks for choice in chunk.get("choices", []))


def in_stream_error(reply: _wire.Reply, cell: Cell) -> dict[str, Any]:
    """The one error that ended a committed stream, after what the upstream had sent of its answer.

    ``error-mid:3`` ends cleanly, so its three events all arrive; ``reset-mid:3`` ends with a TCP
    reset, which may discard the last bytes still in flight, so at most three arrive; a ``stall``
    sends none.
    """
    assert reply.status == 200, reply.body[:300]
    if cell.dialect == "anthropic":
        names = _wire.frame_names(reply.body)
        answered = names[:-1]
        assert names[-1] == "error" and "error" not in answered, names
        assert answered[:1] in ([], ["message_start"]) and "message_stop" not in answered, names
        if cell.fault == "error-mid:3":
            assert len(answered) == 3, names
        else:
            assert len(answered) <= (3 if cell.fault == "reset-mid:3" else 0), names
        error: dict[str, Any] = _wire.anthropic_events(reply.body)[-1]["error"]
        return error
    chunks = _wire.chat_chunks(reply.body)
    answered_chunks = chunks[:-1]
    assert "error" in chunks[-1] and not any("error" in chunk for chunk in answered_chunks), chunks
    assert all("choices" in chunk for chunk in answered_chunks), chunks
    finished = [choice.get("finish_reason") for chunk in answered_chunks for choice in chunk["choices"]]
    assert not any(finished), chunks
    if cell.fault == "error-mid:3":
        assert answered_chunks, chunks
    elif cell.fault == "stall":
        assert not answered_chunks, chunks
    assert b"data: [DONE]" not in reply.body
    openai_error: dict[str, Any] = chunks[-1]["error"]
    return openai_error
