"""The ``/v1/ws`` protocol: its settings, its close codes, and the client messages, parsed and
checked (every problem a ``FrameError`` naming the field). See ``docs/websocket.md``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal

import orjson

from claudegate.gateway._config import WebSocketSettings
from claudegate.gateway.core import shown

__all__ = [
    "FORWARDABLE",
    "KEY_PROTOCOL_PREFIX",
    "PATH",
    "PROTOCOL",
    "TYPES",
    "ClientFrame",
    "CloseCode",
    "FrameError",
    "MessageCancel",
    "MessageCreate",
    "Ping",
    "RoomJoin",
    "RoomLeave",
    "SessionAuth",
    "ToolResult",
    "WebSocketSettings",
    "parse_frame",
    "parse_message",
]

PATH = "/v1/ws"
PROTOCOL = "claudegate.v1"
KEY_PROTOCOL_PREFIX = "claudegate.key."
FORWARDABLE = frozenset(
    {"anthropic-version", "anthropic-beta", "x-sim-fault", "x-sim-latency", "traceparent", "tracestate"}
)
"""Headers a ``message.create`` may ask to be forwarded upstream."""

_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
_ROOM = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")


class CloseCode(IntEnum):
    """Why the server closed a connection (RFC 6455 codes and private 4xxx ones)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    """The server is shutting down."""
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    """The credential cannot be checked now (a JWT whose signing keys cannot be fetched)."""
    IDLE_TIMEOUT = 4001
    """No message either way and no stream running for ``idle_timeout`` seconds."""
    SLOW_CONSUMER = 4008
    """The send queue stayed full for ``send_timeout`` seconds: the client does not read."""
    UNAUTHENTICATED = 4401
    """No key, or a key that is invalid or revoked."""
    AUTH_TIMEOUT = 4408
    """A key was needed and no ``session.auth`` came within ``auth_timeout`` seconds."""


class FrameError(Exception):
    """A client message the server cannot act on; answered with an ``error`` message."""

    def __init__(
        self,
        message: str,
        param: str | None = None,
        *,
        error_type: str = "invalid_request_error",
        stream_id: str | None = None,
        client_event_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.error_type = error_type
        self.stream_id = stream_id
        self.client_event_id = client_event_id
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class MessageCreate:
    """Start a stream: ``request`` in the client's ``dialect`` (streaming implied)."""

    stream_id: str
    request: dict[str, Any]
    dialect: Literal["anthropic", "openai"] = "anthropic"
    room: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    event_id: str | None = None
    batch: bool = False
    """Deliver the events as ``message.events`` frames, one per upstream read, not one frame each."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """Continue the conversation of a finished ``tool_use`` stream with the tools' results."""

    stream_id: str
    previous_stream_id: str
    results: list[Any]
    request: dict[str, Any] = field(default_factory=dict)
    room: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    event_id: str | None = None
    batch: bool = False


@dataclass(frozen=True, slots=True)
class MessageCancel:
    """Stop a running stream (it ends with its ``message.done``)."""

    stream_id: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class RoomJoin:
    """Become a member of a room, optionally replaying its history after ``since``."""

    room: str
    since: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class RoomLeave:
    """Stop being a member of a room."""

    room: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    """Answered with ``pong``."""

    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class SessionAuth:
    """The key, for clients that can set neither headers nor subprotocols."""

    key: str
    event_id: str | None = None


ClientFrame = MessageCreate | ToolResult | MessageCancel | RoomJoin | RoomLeave | Ping | SessionAuth


def _string(
    body: Mapping[str, Any], name: str, pattern: re.Pattern[str] | None, required: bool
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise FrameError(f"{name}: field required", name)
        return None
    if not isinstance(value, str):
        raise FrameError(f"{name}: must be a string", name)
    if pattern is not None and pattern.fullmatch(value) is None:
        raise FrameError(f"{name}: 1 to 128 letters, digits or _ . : -", name)
    return value


def _object(body: Mapping[str, Any], name: str, required: bool) -> dict[str, Any]:
    value = body.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise FrameError(
            f"{name}: must be a JSON object" if value is not None else f"{name}: field required", name
        )
    return value


def _headers(body: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in _object(body, "headers", False).items():
        lowered = name.lower()
        if lowered not in FORWARDABLE:
            allowed = ", ".join(sorted(FORWARDABLE))
            raise FrameError(
                f"headers.{name}: not forwarded upstream (allowed: {allowed})", f"headers.{name}"
            )
        if not isinstance(value, str) or len(value) > 1024:
            raise FrameError(f"headers.{name}: must be a string (at most 1024 characters)", f"headers.{name}")
        headers[lowered] = value
    return headers


def _create(body: Mapping[str, Any], event_id: str | None) -> MessageCreate:
    stream_id = _string(body, "stream_id", _ID, True)
    assert stream_id is not None
    dialect = body.get("dialect", "anthropic")
    if dialect not in ("anthropic", "openai"):
        raise FrameError("dialect: must be 'anthropic' or 'openai'", "dialect")
    return MessageCreate(
        stream_id,
        _object(body, "request", True),
        dialect,
        _string(body, "room", _ROOM, False),
        _headers(body),
        event_id,
        _flag(body, "batch"),
    )


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise FrameError(f"{name}: must be true or false", name)
    return value


def _tool_result(body: Mapping[str, Any], event_id: str | None) -> ToolResult:
    stream_id = _string(body, "stream_id", _ID, True)
    previous = _string(body, "previous_stream_id", _ID, True)
    assert stream_id is not None and previous is not None
    results = body.get("results")
    if not isinstance(results, list) or not results:
        raise FrameError("results: must be a non-empty list of tool_result blocks", "results")
    request = _object(body, "request", False)
    if "messages" in request:
        raise FrameError("request.messages: the conversation is the previous stream's", "request.messages")
    room = _string(body, "room", _ROOM, False)
    return ToolResult(
        stream_id, previous, results, request, room, _headers(body), event_id, _flag(body, "batch")
    )


def _cancel(body: Mapping[str, Any], event_id: str | None) -> MessageCancel:
    stream_id = _string(body, "stream_id", _ID, True)
    assert stream_id is not None
    return MessageCancel(stream_id, event_id)


def _join(body: Mapping[str, Any], event_id: str | None) -> RoomJoin:
    room = _string(body, "room", _ROOM, True)
    assert room is not None
    return RoomJoin(room, _string(body, "since", None, False), event_id)


def _leave(body: Mapping[str, Any], event_id: str | None) -> RoomLeave:
    room = _string(body, "room", _ROOM, True)
    assert room is not None
    return RoomLeave(room, event_id)


def _ping(body: Mapping[str, Any], event_id: str | None) -> Ping:
    return Ping(event_id)


def _auth(body: Mapping[str, Any], event_id: str | None) -> SessionAuth:
    key = _string(body, "key", None, True)
    assert key is not None
    return SessionAuth(key, event_id)


_PARSERS: dict[str, Callable[[Mapping[str, Any], str | None], ClientFrame]] = {
    "message.create": _create,
    "tool_result": _tool_result,
    "message.cancel": _cancel,
    "room.join": _join,
    "room.leave": _leave,
    "ping": _ping,
    "session.auth": _auth,
}
TYPES = tuple(_PARSERS)
_STARTS = ("message.create", "tool_result")


def _too_large(text: str, limit: int) -> int | None:
    if len(text) > limit:
        return len(text)
    if len(text) * 4 > limit:  # only long texts can be over the limit once encoded
        size = len(text.encode("utf-8", "surrogatepass"))
        return size if size > limit else None
    return None


def parse_frame(message: Mapping[str, Any], max_bytes: int) -> ClientFrame:
    """The client message of an ASGI ``websocket.receive``, checked; ``FrameError`` if it is not one."""
    text = message.get("text")
    if text is None:
        raise FrameError("binary messages are not supported: send JSON objects as text messages")
    size = _too_large(text, max_bytes)
    if size is not None:
        raise FrameError(
            f"the message is {size} bytes, over the limit of {max_bytes}", error_type="request_too_large"
        )
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"the message is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise FrameError("the message must be a JSON object")
    return parse_message(body.get("type"), body)


def parse_message(kind: object, body: Mapping[str, Any]) -> ClientFrame:
    """The client message of type ``kind`` whose fields are ``body``, checked; ``FrameError`` naming
    the field if it is not one. For transports that carry the type beside the object (Socket.IO's
    event names) as well as for ``parse_frame``."""
    event_id = body.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or _ID.fullmatch(event_id) is None):
        raise FrameError("event_id: 1 to 128 letters, digits or _ . : -", "event_id")
    stream_id = body.get("stream_id")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    try:
        if parser is None:
            expected = ", ".join(TYPES)
            if kind is None:
                raise FrameError(f"type: field required (one of {expected})", "type")
            raise FrameError(
                f"type: unknown message type {shown(str(kind), 64)!r} (one of {expected})", "type"
            )
        return parser(body, event_id)
    except FrameError as exc:
        exc.client_event_id = event_id
        # A refused message.create or tool_result is that stream's end: its error names the stream.
        if kind in _STARTS and isinstance(stream_id, str) and _ID.fullmatch(stream_id):
            exc.stream_id = stream_id
        raise
