"""A protocol-exact local Claude: the Anthropic Messages API (and OpenAI's chat dialect) on loopback.

Use it offline, as the upstream of tests and benchmarks, or in process::

    from claudegate.simulator import Simulator, create_app, serve

    Simulator().create({"model": "claude-sonnet-4-5", "max_tokens": 64,
                        "messages": [{"role": "user", "content": "hi"}]})
    app = create_app()                      # a plain ASGI app; app.simulator.log is the request log
    serve("127.0.0.1", 8765)                # uvicorn with uvloop and httptools

Replies are deterministic for a given request (see ``_engine``), token counts follow one documented
rule (``_tokens``), tool inputs satisfy the tool's schema (``_schema_values``), and faults and
latency are injected per request with ``x-sim-fault`` / ``x-sim-latency`` (``_faults``).
"""

from __future__ import annotations

from typing import Any

import uvicorn

from claudegate.simulator._app import SimulatorApp
from claudegate.simulator._config import DEFAULT_MODELS, ModelSpec, SimulatorConfig
from claudegate.simulator._engine import Simulator
from claudegate.simulator._faults import Fault, parse_faults
from claudegate.simulator._log import RequestLog
from claudegate.simulator._reply import Reply
from claudegate.simulator._schema_values import SchemaValueGenerator, value_for_schema
from claudegate.simulator._tokens import count_input_tokens, text_tokens
from claudegate.simulator.salesforce import SalesforceSimulatorApp, create_salesforce_app

__all__ = [
    "DEFAULT_MODELS",
    "Fault",
    "ModelSpec",
    "Reply",
    "RequestLog",
    "SchemaValueGenerator",
    "Simulator",
    "SimulatorApp",
    "SimulatorConfig",
    "count_input_tokens",
    "create_app",
    "create_salesforce_app",
    "parse_faults",
    "serve",
    "text_tokens",
    "value_for_schema",
]


def create_app(config: SimulatorConfig | None = None) -> SimulatorApp:
    """A fresh simulator as a plain ASGI app (each app has its own log, cache, batches and fault counts).

    >>> from claudegate.testing import LiveServer
    >>> with LiveServer(create_app()) as server:  # doctest: +SKIP
    ...     ...  # point any Anthropic or OpenAI client at server.base_url
    """
    return SimulatorApp(Simulator(config))


class _WithSalesforce:
    """The simulator with Salesforce's token and chat-generations routes on the same port."""

    _PREFIXES = ("/services/oauth2/", "/einstein/")

    def __init__(self, app: SimulatorApp, salesforce: SalesforceSimulatorApp) -> None:
        self.app = app
        self.salesforce = salesforce

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self._PREFIXES):
            await self.salesforce(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def serve(host: str, port: int, config: SimulatorConfig | None = None, *, salesforce: bool = False) -> None:
    """Run the simulator under uvicorn (uvloop, httptools) until interrupted.

    With ``salesforce``, Salesforce's Models API (``/services/oauth2/token``,
    ``/einstein/platform/v1/models/{model}/chat-generations``, client id ``sim-client``, secret
    ``sim-secret``) is served on the same port, answered by the same simulator.
    """
    app = create_app(config)
    asgi: Any = _WithSalesforce(app, create_salesforce_app(app.simulator)) if salesforce else app
    uvicorn.run(
        asgi,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="info",
    )
