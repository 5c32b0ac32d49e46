"""What a Socket.IO client presents: the handshake's ``auth`` object (its key or token, and, when
reconnecting, its session id and the last room event ids it saw), and the ``{room}`` objects of
``join-room`` / ``leave-room``; each checked, every problem naming the field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from claudegate.gateway._http import Receive, Scope, Send
from claudegate.gateway.core import GatewayError, anthropic_error, new_request_id
from claudegate.gateway.surfaces.websocket import FrameError

__all__ = ["Handshake", "refusal", "refuse"]

_ROOM = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
_SESSION = re.compile(r"sio_[0-9a-f]{32}")


def refusal(message: str, data: dict[str, Any]) -> Exception:
    """The exception that refuses a handshake: the client's ``connect_error`` with ``message`` and
    ``data``."""
    from socketio.exceptions import ConnectionRefusedError

    error: Exception = ConnectionRefusedError(message, data)
    return error


def _bad(field_name: str, message: str) -> Exception:
    data = {"type": "invalid_request_error", "message": f"{field_name}: {message}", "param": field_name}
    return refusal(f"invalid_request_error: {field_name}: {message}", data)


@dataclass(frozen=True, slots=True)
class Handshake:
    """The handshake's ``auth``: ``{token?, session_id?, offsets?}``."""

    token: str | None = None
    session_id: str | None = None
    offsets: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, auth: Any) -> Handshake:
        """The checked ``auth`` object; a refusal (``connect_error``) naming the field otherwise."""
        if auth is None:
            return cls()
        if not isinstance(auth, dict):
            raise _bad("auth", "must be an object such as {token: KEY}")
        token, session_id, offsets = auth.get("token"), auth.get("session_id"), auth.get("offsets")
        if token is not None and (not isinstance(token, str) or not token):
            raise _bad("auth.token", "must be a non-empty string (a gateway key)")
        if session_id is not None and (not isinstance(session_id, str) or not _SESSION.fullmatch(session_id)):
            raise _bad("auth.session_id", "must be the session_id of an earlier session.created")
        if offsets is None:
            offsets = {}
        if not isinstance(offsets, dict):
            raise _bad("auth.offsets", "must map room names to the last event_id received")
        for room, last in offsets.items():
            if not isinstance(last, str) or not _ROOM.fullmatch(room):
                raise _bad(f"auth.offsets.{room}", "must be the event_id of a room event")
        return cls(token, session_id, dict(offsets))

    @staticmethod
    def room_of(data: Any, *, with_since: bool) -> tuple[str, str | None]:
        """The ``room`` (and ``since``) of a ``join-room`` / ``leave-room`` object."""
        if not isinstance(data, dict):
            raise FrameError("the event's argument must be a JSON object such as {room: NAME}")
        room = data.get("room")
        if room is None:
            raise FrameError("room: field required", "room")
        if not isinstance(room, str) or not _ROOM.fullmatch(room):
            raise FrameError("room: 1 to 128 letters, digits or _ . : -", "room")
        since = data.get("since") if with_since else None
        if since is not None and not isinstance(since, str):
            raise FrameError("since: must be a string (an event_id of the room)", "since")
        return room, since


async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer while the surface is not serving (before startup, after shutdown): 503 or a close."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.close", "code": 1013})
        return
    error = GatewayError(503, "overloaded_error", "the gateway is not serving Socket.IO now")
    body = orjson.dumps(anthropic_error(error, new_request_id()))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
