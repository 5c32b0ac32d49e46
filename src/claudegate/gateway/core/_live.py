"""What a gateway process is doing right now: its deployments' health and breakers, the streams it
is answering and the WebSocket connections it holds. Read from memory, so cheap enough to poll
every few seconds (the dashboard does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claudegate.gateway.core._core import GatewayCore

__all__ = ["LiveState", "live_state"]


@dataclass(frozen=True, slots=True)
class LiveState:
    """One process's moment: ``deployments`` as ``GET /health/deployments`` shows each (state,
    breaker, calls, failures, last error, recent latency)."""

    ready: bool
    active_streams: int
    websocket_connections: int
    deployments: list[dict[str, Any]]


def live_state(core: GatewayCore) -> LiveState:
    """This process's live state (no I/O)."""
    metrics = core.metrics
    return LiveState(
        ready=core.ready,
        active_streams=metrics.active_streams,
        websocket_connections=metrics.websocket_connections,
        deployments=list(core.runtime.resilience.snapshot()["deployments"]),
    )
