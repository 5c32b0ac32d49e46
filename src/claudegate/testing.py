"""Serve any ASGI app on loopback for tests: a real socket, a real uvicorn, no network.

>>> from claudegate.simulator import create_app
>>> with LiveServer(create_app()) as server:
...     print(server.base_url)            # http://127.0.0.1:<free port>

The server runs on its own event loop in a daemon thread, so both sync and async test code can
talk to it. In-process ASGI test clients buffer whole bodies and hide streaming bugs; this does not.
A gateway app is served as ``claudegate serve`` serves it: with its HTTP edge limits
(``gateway.edge``) unless ``http=`` says otherwise.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["LiveServer"]


def _edge_options(app: Any) -> dict[str, Any]:
    # Serving a simulator or any other ASGI app imports nothing from the gateway: without the
    # gateway's module loaded, ``app`` cannot be a gateway.
    module = sys.modules.get("claudegate.gateway._app")
    if module is None or not isinstance(app, module.GatewayApp):
        return {}
    from claudegate.gateway._serve import uvicorn_options

    return uvicorn_options(app)


class LiveServer:
    """Run an ASGI app under uvicorn on ``127.0.0.1`` and a free port until the context exits."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._options = {"log_level": "warning", "lifespan": "auto", **uvicorn_options}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the server is not running")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LiveServer:
        """Start serving; raise if the server is not up within ``timeout`` seconds."""
        # IPPROTO_TCP named, not left 0: only then do asyncio and uvloop set TCP_NODELAY on the
        # connections accepted (without it, an answer written in two parts waits ~40 ms for an ACK).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.set_inheritable(True)
        self._socket = sock
        config = uvicorn.Config(self._app, **{**_edge_options(self._app), **self._options})
        server = uvicorn.Server(config)
        self._server = server

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # reported by start() when serving never began
                self._error = exc

        self._thread = threading.Thread(target=run, name="claudegate-live-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                error = self._error
                self.stop()
                raise RuntimeError(f"server failed to start within {timeout} s: {error!r}")
            self._thread.join(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
