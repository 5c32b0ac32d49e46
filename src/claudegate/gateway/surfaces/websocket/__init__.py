"""The WebSocket surface, ``/v1/ws`` (see ``_surface`` and ``docs/websocket.md``)."""

from __future__ import annotations

from claudegate.gateway.surfaces.websocket._protocol import PATH, PROTOCOL, CloseCode, WebSocketSettings
from claudegate.gateway.surfaces.websocket._surface import WebSocketSurface

__all__ = ["PATH", "PROTOCOL", "CloseCode", "WebSocketSettings", "WebSocketSurface"]
