"""The gateway: one ASGI service that speaks the Anthropic Messages API and the OpenAI Chat
Completions API, and routes each request to configured upstreams.

>>> from claudegate.gateway import create_app, load_config
>>> app = create_app(load_config("gateway.yaml"))     # or create_app(): everything to the simulator

Run it with ``claudegate serve [--config FILE] [--host] [--port]``.
"""

from __future__ import annotations

from pathlib import Path

from claudegate.gateway._app import GatewayApp
from claudegate.gateway._config import (
    ConfigError,
    DeploymentConfig,
    GatewayConfig,
    GatewaySettings,
    RouteConfig,
    TimeoutConfig,
    default_config,
    load_config,
    parse_config,
)
from claudegate.gateway._serve import serve
from claudegate.gateway.core import keys_issued

__all__ = [
    "ConfigError",
    "DeploymentConfig",
    "GatewayApp",
    "GatewayConfig",
    "GatewaySettings",
    "RouteConfig",
    "TimeoutConfig",
    "create_app",
    "default_config",
    "keys_issued",
    "load_config",
    "parse_config",
    "serve",
]


def create_app(config: GatewayConfig | None = None, *, config_path: str | Path | None = None) -> GatewayApp:
    """A gateway ASGI app for ``config`` (default: every model name to the in-process simulator).

    With ``config_path`` (the file ``config`` came from) it reloads on ``SIGHUP`` and when the file
    changes.
    """
    return GatewayApp(config, config_path=config_path)
