"""Every simulator fault x (JSON, stream) x (Anthropic, OpenAI dialect) through a two-deployment gateway.

Deployment ``one`` fails its first two requests with the cell's fault; ``two`` is healthy. Each
cell checks the outcome ``docs/reliability.md`` promises: failover before the first byte (200 from
``two``), a clean in-stream error after it (no second upstream call), the breaker opening after
two failures and recovering after ``open_duration``, every request bounded in time, and exactly
the upstream attempts the policy allows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.gateway._matrix import (
    CELL_BOUND,
    CELLS,
    DEPLOYMENT_KEY,
    DEPLOYMENT_KEY_ENV,
    FAILURES,
    OPEN_DURATION,
    READ_TIMEOUT,
    Cell,
    Lane,
    Matrix,
    assert_served,
    in_stream_error,
    matrix,
    send,
)

# The error type that ends a committed stream, per fault (OpenAI callers get it as ``code``).
IN_STREAM_ERROR = {"reset-mid:3": "api_error", "error-mid:3": "overloaded_error", "stall": "timeout_error"}


@pytest.fixture(scope="module")
def bench() -> Iterator[Matrix]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DEPLOYMENT_KEY_ENV, DEPLOYMENT_KEY)
        with matrix() as served:
            yield served


def _failing_request(setup: Lane, cell: Cell) -> None:
    """One request while deployment one still fails: the cell's designed outcome."""
    before = setup.calls()
    reply, elapsed = send(setup)
    assert elapsed < CELL_BOUND
    if cell.before_first_byte:
        assert_served(reply, cell)
        assert setup.calls() == (before[0] + 1, before[1] + 1)  # one tried once, then two
        return
    error = in_stream_error(reply, cell)
    assert error["type" if cell.dialect == "anthropic" else "code"] == IN_STREAM_ERROR[cell.fault]
    assert setup.calls() == (before[0] + 1, before[1])  # nothing spliced on from two
    if cell.fault == "stall":
        assert elapsed >= READ_TIMEOUT  # ended by the read timeout, not at once


def _served_by(setup: Lane, cell: Cell, deployment: int) -> None:
    before = setup.calls()
    reply, elapsed = send(setup)
    assert elapsed < CELL_BOUND
    assert_served(reply, cell)
    expected = (before[0] + (deployment == 1), before[1] + (deployment == 2))
    assert setup.calls() == expected, f"expected deployment {deployment} alone to be called"


def _wait_for_probe(setup: Lane) -> None:
    """Sleep until deployment one's breaker admits a probe."""
    retry_after = setup.health()["one"]["breaker"]["retry_after"]
    assert retry_after is not None
    time.sleep(retry_after + 0.05)


@pytest.mark.parametrize("cell", CELLS, ids=[cell.id for cell in CELLS])
def test_fault_cell(bench: Matrix, cell: Cell) -> None:
    setup = bench.lane(cell)
    for _ in range(FAILURES):
        _failing_request(setup, cell)
    one = setup.health()["one"]
    if not cell.before_first_byte:
        # The deployment had answered: a failure after the first byte does not count.
        assert one["breaker"]["state"] == "closed" and one["breaker"]["failures"] == 0
        _served_by(setup, cell, 1)  # the fault has run out: one serves as before
        return
    assert one["breaker"]["state"] == "open"
    assert one["state"] == "unhealthy"
    assert one["last_error"]
    assert setup.health()["two"]["state"] == "healthy"
    _served_by(setup, cell, 2)  # open: one is skipped without a call
    if cell.fault.startswith("429"):
        # retry-after=1 outlasts open_duration: still skipped once open_duration is over.
        assert setup.health()["one"]["breaker"]["retry_after"] > OPEN_DURATION + 0.3
        time.sleep(OPEN_DURATION + 0.1)
        _served_by(setup, cell, 2)
    _wait_for_probe(setup)
    _served_by(setup, cell, 1)  # the probe succeeds
    assert setup.health()["one"]["breaker"]["state"] == "closed"
    _served_by(setup, cell, 1)  # and one serves again


PRE_BYTE = [cell for cell in CELLS if cell.before_first_byte]


@pytest.mark.parametrize("cell", PRE_BYTE, ids=[cell.id for cell in PRE_BYTE])
def test_without_a_breaker_every_request_tries_the_failing_deployment_once(bench: Matrix, cell: Cell) -> None:
    setup = bench.lane(cell, breaker=False)
    for _ in range(FAILURES):
        _failing_request(setup, cell)
    assert setup.health()["one"]["breaker"] is None
    _served_by(setup, cell, 1)
