"""The WebSocket surface, ``/v1/ws`` (see ``_surface`` and ``docs/websocket.md``).

Besides the surface, the transport-independent pieces other socket surfaces reuse: the client
messages and their checking (``parse_message``), and a connection's streams (``Streams``: caps,
core calls, ``tool_result`` continuations), which send their messages to any ``Sink``.
"""

from __future__ import annotations

from claudegate.gateway.surfaces.websocket._protocol import (
    PATH,
    PROTOCOL,
    ClientFrame,
    CloseCode,
    FrameError,
    MessageCancel,
    MessageCreate,
    ToolResult,
    WebSocketSettings,
    parse_message,
)
from claudegate.gateway.surfaces.websocket._starts import Streams
from claudegate.gateway.surfaces.websocket._streams import Sink
from claudegate.gateway.surfaces.websocket._surface import WebSocketSurface

__all__ = [
    "PATH",
    "PROTOCOL",
    "ClientFrame",
    "CloseCode",
    "FrameError",
    "MessageCancel",
    "MessageCreate",
    "Sink",
    "Streams",
    "ToolResult",
    "WebSocketSettings",
    "WebSocketSurface",
    "parse_message",
]
