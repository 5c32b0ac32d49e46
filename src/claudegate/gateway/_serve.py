"""Serving the gateway under uvicorn (uvloop, httptools), saying where once it listens."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from claudegate.gateway._access_log import attach_handler
from claudegate.gateway._app import GatewayApp
from claudegate.gateway._protocol import edge_protocol
from claudegate.gateway._websocket_protocol import CoalescingWebSocketProtocol

__all__ = ["serve", "uvicorn_options"]


def uvicorn_options(app: GatewayApp) -> dict[str, Any]:
    """The ``uvicorn.Config`` settings that put ``app``'s HTTP edge limits (``gateway.edge``) in force,
    and its WebSocket protocol (frames of one turn of the event loop written together).

    ``serve`` uses them, and so does ``claudegate.testing.LiveServer`` for a ``GatewayApp``.
    """
    return {"http": edge_protocol(app.core.config.gateway.edge), "ws": CoalescingWebSocketProtocol}


def _base_url(address: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = address[0], address[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    app: GatewayApp,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    log_level: str = "info",
    on_started: Callable[[str], None] | None = None,
) -> bool:
    """Serve ``app`` until interrupted; False when it never started.

    The access log (``observability.access_log``) goes to stderr.

    ``on_started`` gets the bound URL once the gateway has started and every listener is bound:
    whoever reads a banner (a person, a script, a supervisor) takes it as the signal to connect,
    and ``port=0`` is only useful if it names the port chosen.
    """

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if on_started is not None and self.started and not self.should_exit:
                bound = [sock.getsockname() for server in self.servers for sock in server.sockets]
                on_started(_base_url(bound[0]) if bound else f"http://{host}:{port}")

    attach_handler(app.core.config.observability.access_log)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        lifespan="on",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level=log_level,
        timeout_graceful_shutdown=10,
        **uvicorn_options(app),
    )
    server = AnnouncingServer(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return bool(server.started)
