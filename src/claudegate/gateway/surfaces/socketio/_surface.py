"""The Socket.IO surface, ``/socket.io/``: python-socketio in ASGI mode over the gateway core.

Both Engine.IO transports (HTTP long-polling and WebSocket) reach it. The handshake's
``auth: {token}`` (or an ``x-api-key`` / ``Authorization: Bearer`` header) is checked by the core
before the connection is accepted; a refusal is the client's ``connect_error`` whose ``data`` says
why. Events on the default namespace mirror ``/v1/ws`` (``message.create``, ``message.event``,
``message.done``, ``message.cancel``, ``tool_result``, ``error``) plus ``join-room`` /
``leave-room`` with ``user-joined`` / ``user-left`` broadcasts. Every stream is a core call
(dialect ``socketio``): limits, budgets, routing, failover, ledger rows and metrics as for REST.
With ``storage.redis_url`` set, python-socketio's ``AsyncRedisManager`` joins the replicas and
the room hub and detached sessions live in Redis. See ``docs/socketio.md``.

>>> surface = SocketIOSurface(core)
>>> await surface.start()                  # the server, the room hub, the session store
>>> await surface(scope, receive, send)    # any /socket.io/ request or WebSocket
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from claudegate.gateway._config import SocketIOSettings
from claudegate.gateway._http import FORWARDED_HEADERS, Receive, Scope, Send
from claudegate.gateway.core import (
    GatewayCore,
    GatewayError,
    Principal,
    RoomHub,
    open_room_hub,
    presented_key,
)
from claudegate.gateway.surfaces.socketio._connection import Connection, new_session_id
from claudegate.gateway.surfaces.socketio._handshake import Handshake, refusal, refuse
from claudegate.gateway.surfaces.socketio._rooms import Memberships
from claudegate.gateway.surfaces.socketio._sessions import Detached, Sessions, open_sessions
from claudegate.gateway.surfaces.websocket import FrameError

__all__ = ["PATH", "SocketIOSurface"]

log = logging.getLogger("claudegate.gateway")

PATH = "/socket.io/"
# Disconnections after which a client does not come back on its own: nothing to keep for it.
_FINAL = frozenset({"client disconnect", "server disconnect"})


@dataclass(slots=True)
class _Accepted:
    """A handshake accepted, waiting for Socket.IO to confirm the connection."""

    principal: Principal
    session_id: str
    resumed: Detached | None
    offsets: dict[str, str]
    forwarded: dict[str, str]


def _error_payload(exc: FrameError) -> dict[str, Any]:
    payload: dict[str, Any] = {"error": {"type": exc.error_type, "message": exc.message}}
    if exc.param is not None:
        payload["param"] = exc.param
    if exc.stream_id is not None:
        payload["stream_id"] = exc.stream_id
    if exc.retry_after is not None:
        payload["retry_after"] = round(exc.retry_after, 3)
    return payload


def _presence(key: str) -> str:
    """The Socket.IO room whose members hear ``user-joined`` / ``user-left`` of hub room ``key``."""
    return "room:" + key


class SocketIOSurface:
    """Serves ``/socket.io/`` for one gateway (see the module docstring).

    ``settings`` bounds every connection (default: the configuration's ``gateway.socketio``);
    ``hub`` and ``sessions`` override what the configuration picks; ``clock`` (monotonic seconds)
    times the messages-per-minute window and, in memory, the recovery window.
    """

    def __init__(
        self,
        core: GatewayCore,
        settings: SocketIOSettings | None = None,
        *,
        hub: RoomHub | None = None,
        sessions: Sessions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self._fixed = settings
        self.hub = hub
        self.sessions = sessions
        self.clock = clock
        self.server: Any = None
        """The ``socketio.AsyncServer`` (built by ``start()``)."""
        self.connections: dict[str, Connection] = {}
        self._app: Any = None
        self._accepted: dict[str, _Accepted] = {}

    @property
    def settings(self) -> SocketIOSettings:
        return self._fixed or self.core.config.gateway.socketio

    async def start(self) -> None:
        """Build the server and open the room hub and the session store (at the app's startup)."""
        # Loaded here, not with the gateway: a gateway starts as fast whether or not it serves Socket.IO.
        import socketio

        from claudegate.gateway.surfaces.socketio import _json
        from claudegate.gateway.surfaces.socketio._managers import announcing_manager

        settings, config = self.settings, self.core.config
        storage = config.storage
        redis_url = storage.redis_url if storage is not None else None
        prefix = storage.redis_prefix if storage is not None else "cg"
        origins = settings.cors_allowed_origins
        server = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=announcing_manager(self._connected, redis_url, channel=f"{prefix}:socketio"),
            json=_json,
            async_handlers=False,  # one connection's events are handled in the order they came
            cors_allowed_origins="*" if origins is not None and "*" in origins else origins,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            max_http_buffer_size=settings.max_message_bytes,
            logger=False,
            engineio_logger=False,
        )
        server.on("connect", self._connect)
        server.on("disconnect", self._disconnect)
        for name, act in self._acts().items():
            server.on(name, self._handler(act))
        self.server = server
        self._app = socketio.ASGIApp(server, socketio_path=PATH.strip("/"))
        if self.hub is None:
            self.hub = open_room_hub(config, history=settings.room_history, buffer=settings.room_buffer)
        await self.hub.start()
        if self.sessions is None:
            self.sessions = open_sessions(config, self.clock)
        await self.sessions.start()

    async def close(self) -> None:
        """End every stream (each settles its call), then the server, the hub and the store."""
        server, self._app = self.server, None
        if server is None:
            return
        if server.eio.sockets:  # closing them also answers the long-polling requests held open
            try:
                await asyncio.wait_for(server.eio.disconnect(), self.settings.ping_timeout)
            except TimeoutError:
                log.warning("Socket.IO clients did not all close in time at shutdown")
        for connection in list(self.connections.values()):
            await connection.drop()
        await server.shutdown()
        await server.manager.aclose()
        if self.hub is not None:
            await self.hub.close()
        if self.sessions is not None:
            await self.sessions.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ``/socket.io/`` HTTP request or WebSocket."""
        app = self._app
        if app is None:
            await refuse(scope, receive, send)
            return
        await app(scope, receive, send)

    # -- connecting ------------------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        handshake = Handshake.read(auth)
        scope = environ.get("asgi.scope") or {}
        headers: dict[bytes, bytes] = dict(scope.get("headers") or ())
        credential = handshake.token if handshake.token is not None else presented_key(headers)
        try:
            principal = await self.core.principal(credential)
        except GatewayError as error:
            data = {"type": error.error_type, "message": error.message, "status": error.status}
            raise refusal(f"{error.error_type}: {error.message}", data) from None
        resumed = None
        if handshake.session_id is not None and self.sessions is not None:
            kept = await self.sessions.take(handshake.session_id)
            if kept is not None and kept.owner == principal.owner:
                resumed = kept
        forwarded = {
            name.decode(): headers[name].decode("latin-1") for name in FORWARDED_HEADERS if name in headers
        }
        session_id = (
            handshake.session_id if resumed is not None and handshake.session_id else new_session_id()
        )
        self._accepted[sid] = _Accepted(principal, session_id, resumed, handshake.offsets, forwarded)

    async def _connected(self, sid: str) -> None:
        """Socket.IO has told the client it is connected: open its session (and resume its rooms)."""
        accepted = self._accepted.pop(sid, None)
        if accepted is None or self.hub is None:
            return
        emit = self._emitter(sid)
        principal = accepted.principal
        rooms = Memberships(
            self.hub, emit, sid, principal.owner, self.settings.max_rooms, on_lagged=self._lagged(sid)
        )
        connection = Connection(
            self.core,
            self.settings,
            sid,
            principal,
            rooms=rooms,
            emit=emit,
            session_id=accepted.session_id,
            forwarded=accepted.forwarded,
            clock=self.clock,
        )
        self.connections[sid] = connection
        kept = accepted.resumed
        resumed = list(kept.rooms) if kept is not None else []
        # session.created first: a resumed room's replay follows it.
        await emit("session.created", self._describe(connection, kept is not None, resumed))
        for room in resumed:
            assert kept is not None
            since = accepted.offsets.get(room, kept.rooms[room])
            try:
                await self._enter(connection, room, since, resumed=True)
            except FrameError as exc:
                await emit("error", {**_error_payload(exc), "room": room})

    def _describe(self, connection: Connection, recovered: bool, rooms: list[str]) -> dict[str, Any]:
        settings = self.settings
        return {
            "session_id": connection.session_id,
            "recovered": recovered,
            "rooms": rooms,
            "authenticated": connection.principal.key is not None,
            "limits": {
                "max_streams": settings.max_streams,
                "messages_per_minute": settings.messages_per_minute,
                "max_rooms": settings.max_rooms,
                "recovery_window": settings.recovery_window,
            },
            "rooms_backend": self.hub.backend if self.hub is not None else "memory",
        }

    async def _disconnect(self, sid: str, reason: str = "") -> None:
        self._accepted.pop(sid, None)
        connection = self.connections.pop(sid, None)
        if connection is None:
            return
        last_ids = dict(connection.rooms.last_ids)
        server = self.server
        for room in last_ids:
            if server is not None:
                key = connection.rooms.key(room)
                payload = {"room": room, "sid": sid, "reason": "disconnected"}
                await server.emit("user-left", payload, to=_presence(key), skip_sid=sid)
        await connection.drop()
        if reason not in _FINAL and self.sessions is not None and last_ids:
            kept = Detached(connection.principal.owner, last_ids)
            await self.sessions.keep(connection.session_id, kept, self.settings.recovery_window)

    # -- events ----------------------------------------------------------------------------

    def _acts(self) -> dict[str, Callable[[Connection, Any], Awaitable[dict[str, Any]]]]:
        return {
            "message.create": self._create,
            "tool_result": self._tool_result,
            "message.cancel": self._cancel,
            "join-room": self._join,
            "leave-room": self._leave,
        }

    def _handler(
        self, act: Callable[[Connection, Any], Awaitable[dict[str, Any]]]
    ) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def handle(sid: str, data: Any = None, *extra: Any) -> dict[str, Any]:
            connection = self.connections.get(sid)
            try:
                if connection is None:
                    raise FrameError("the connection is not open", error_type="invalid_request_error")
                if extra:
                    raise FrameError("send one JSON object per event (extra arguments were sent)")
                return await act(connection, data)
            except FrameError as exc:
                payload = _error_payload(exc)
                await self._emitter(sid)("error", payload)
                return payload

        return handle

    async def _create(self, connection: Connection, data: Any) -> dict[str, Any]:
        return {"stream_id": await connection.create(data)}

    async def _tool_result(self, connection: Connection, data: Any) -> dict[str, Any]:
        return {"stream_id": await connection.resume(data)}

    async def _cancel(self, connection: Connection, data: Any) -> dict[str, Any]:
        return {"stream_id": connection.cancel(data), "cancelled": True}

    async def _join(self, connection: Connection, data: Any) -> dict[str, Any]:
        room, since = Handshake.room_of(data, with_since=True)
        await self._enter(connection, room, since, resumed=False)
        reply: dict[str, Any] = {"room": room}
        if since is not None:
            reply["since"] = since
        return reply

    async def _enter(self, connection: Connection, room: str, since: str | None, *, resumed: bool) -> None:
        await connection.rooms.join(room, since)
        server = self.server
        if server is not None:
            presence = _presence(connection.rooms.key(room))
            await server.enter_room(connection.sid, presence)
            payload: dict[str, Any] = {"room": room, "sid": connection.sid}
            if resumed:
                payload["recovered"] = True
            await server.emit("user-joined", payload, to=presence, skip_sid=connection.sid)

    async def _leave(self, connection: Connection, data: Any) -> dict[str, Any]:
        room, _ = Handshake.room_of(data, with_since=False)
        await connection.rooms.leave(room)
        server = self.server
        if server is not None:
            presence = _presence(connection.rooms.key(room))
            await server.leave_room(connection.sid, presence)
            await server.emit(
                "user-left", {"room": room, "sid": connection.sid, "reason": "left"}, to=presence
            )
        return {"room": room}

    # -- sending ---------------------------------------------------------------------------

    def _emitter(self, sid: str) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
        async def emit(name: str, payload: dict[str, Any]) -> None:
            server = self.server
            if server is not None:
                # The connection is on this replica: no trip through the Redis manager.
                await server.emit(name, payload, to=sid, ignore_queue=True)

        return emit

    def _lagged(self, sid: str) -> Callable[[str, str | None], Awaitable[None]]:
        async def lagged(room: str, last_id: str | None) -> None:
            hint = f"; rejoin with since={last_id}" if last_id is not None else "; rejoin to follow it again"
            payload: dict[str, Any] = {
                "room": room,
                "error": {"type": "overloaded_error", "message": f"fell behind room {room!r}{hint}"},
            }
            if last_id is not None:
                payload["last_event_id"] = last_id
            await self._emitter(sid)("error", payload)

        return lagged
