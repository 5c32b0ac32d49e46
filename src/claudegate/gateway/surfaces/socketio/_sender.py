"""Sending events to one Socket.IO connection, each encoded once and handed straight to its
Engine.IO socket.

An event to a single connection needs none of what ``AsyncServer.emit`` does for a room (the
manager's participant lookup, a task per recipient, a scan of the arguments for binary data and
a second JSON encoding): the packet is Socket.IO's ``EVENT`` packet on the default namespace,
``2["<name>",<object>]``, exactly what ``emit`` would have sent. A connection that is gone is
skipped, as ``emit`` skips it.
"""

from __future__ import annotations

from typing import Any

from claudegate.gateway.surfaces.socketio import _json

__all__ = ["Sender"]

_NAMESPACE = "/"


class Sender:
    """The events of one connection (``sid``) of ``server`` (a ``socketio.AsyncServer``).

    Event names are the surface's own (``message.event``, ``error``, …): plain JSON strings."""

    def __init__(self, server: Any, sid: str) -> None:
        self._eio = server.eio
        self._manager = server.manager
        self._sid = sid
        self._eio_sid: str | None = None

    async def emit(self, name: str, payload: dict[str, Any]) -> None:
        """Send event ``name`` with its object."""
        await self.emit_text(name, _json.dumps(payload))

    async def emit_text(self, name: str, payload: str) -> None:
        """Send event ``name`` whose object is already encoded as JSON text."""
        eio_sid = self._eio_sid
        if eio_sid is None:
            eio_sid = self._eio_sid = self._manager.eio_sid_from_sid(self._sid, _NAMESPACE)
            if eio_sid is None:
                return  # not connected (any more)
        await self._eio.send(eio_sid, '2["' + name + '",' + payload + "]")
