"""The dialect tests' gateway: a route per upstream kind, all ending at one simulator on loopback.

``simulator``: the in-process simulator provider; ``openai``: the simulator's
``/v1/chat/completions`` behind the ``openai`` provider (translated both ways); ``anthropic``: the
simulator's ``/v1/messages`` behind the ``anthropic`` provider. The simulator's request log says
what reached it over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claudegate.simulator import SimulatorApp
from tests.gateway.conftest import Live

__all__ = ["KEY_ENV", "ROUTES", "UPSTREAM_MODEL", "Routes"]

UPSTREAM_MODEL = "claude-sonnet-5"
ROUTES = ("simulator", "openai", "anthropic")
KEY_ENV = "GW_ROUTES_UPSTREAM_KEY"


@dataclass(frozen=True)
class Routes:
    gateway: Live
    upstream: SimulatorApp

    def log(self, path: str) -> list[dict[str, Any]]:
        """What reached the simulator over HTTP on ``path``, oldest first."""
        return [entry for entry in self.upstream.simulator.log.entries() if entry["path"] == path]
