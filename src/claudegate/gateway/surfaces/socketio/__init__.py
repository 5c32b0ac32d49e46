"""The Socket.IO surface, ``/socket.io/`` (see ``_surface`` and ``docs/socketio.md``)."""

from __future__ import annotations

from claudegate.gateway.surfaces.socketio._surface import PATH, SocketIOSurface

__all__ = ["PATH", "SocketIOSurface"]
