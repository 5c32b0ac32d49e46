"""One ``/v1/ws`` connection once accepted: authentication, then a read loop that answers client
messages while streams and room relays run beside it, heartbeats and the idle timer; and a
teardown that cancels and settles every stream, then closes with a documented code.

    AUTHENTICATING ──(key from a header or subprotocol, or session.auth)──► OPEN ──► CLOSING ──► CLOSED
          └──────────────(refused: 4401 / 4408)─────────────────────────────────────┘

Client messages are handled one at a time, in order (uvicorn reads the next one only when asked),
so a client that floods is slowed down by TCP, not buffered.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from claudegate.gateway._http import Receive, Send
from claudegate.gateway._websocket_protocol import TextWriter
from claudegate.gateway.core import (
    GatewayCore,
    GatewayError,
    Principal,
    RoomHub,
)
from claudegate.gateway.surfaces.websocket._flow import Outbox, OutboxClosed
from claudegate.gateway.surfaces.websocket._protocol import (
    PROTOCOL,
    TYPES,
    ClientFrame,
    CloseCode,
    FrameError,
    MessageCancel,
    MessageCreate,
    Ping,
    RoomJoin,
    RoomLeave,
    SessionAuth,
    ToolResult,
    WebSocketSettings,
    parse_frame,
)
from claudegate.gateway.surfaces.websocket._rooms import Memberships
from claudegate.gateway.surfaces.websocket._starts import Streams

__all__ = ["Session", "State"]

log = logging.getLogger("claudegate.gateway")


class State(enum.Enum):
    """Where a connection is in its life."""

    AUTHENTICATING = "authenticating"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


def _reason(text: str) -> str:
    """A close reason within the protocol's 123 bytes."""
    encoded = text.encode()
    return text if len(encoded) <= 123 else encoded[:120].decode("utf-8", "ignore") + "..."


class Session:
    """One accepted connection (see the module docstring)."""

    def __init__(
        self,
        core: GatewayCore,
        settings: WebSocketSettings,
        hub: RoomHub,
        receive: Receive,
        send: Send,
        *,
        credential: str | None,
        forwarded: Mapping[str, str],
        clock: Callable[[], float],
        on_close: Callable[[int], None],
        send_texts: bool = False,
        write: TextWriter | None = None,
    ) -> None:
        self.id = "wsc_" + os.urandom(8).hex()
        self.state = State.AUTHENTICATING
        self.core = core
        self.settings = settings
        self.principal = Principal()
        self.close_code: int | None = None
        self._receive = receive
        self._send = send
        self._credential = credential
        self._forwarded = dict(forwarded)
        self._on_close = on_close
        self._close_reason = ""
        self._closing = asyncio.Event()
        self._disconnected = False
        self._open_by_default = False
        self._joined = False
        self.outbox = Outbox(
            send,
            limit=settings.send_queue,
            timeout=settings.send_timeout,
            on_stuck=lambda: self.close(
                CloseCode.SLOW_CONSUMER, "send queue full: the client is not reading"
            ),
            on_broken=self._broken,
            send_texts=send_texts,
            write=write,
        )
        self._rooms = Memberships(
            hub, self.outbox, self.id, lambda: self.principal.room_owner, settings.max_rooms
        )
        self.streams = Streams(
            core,
            settings,
            self.outbox,
            self._rooms,
            session_id=self.id,
            principal=lambda: self.principal,
            forwarded=forwarded,
            clock=clock,
        )
        self._hub = hub
        self._last_received = asyncio.get_running_loop().time()

    def close(self, code: int, reason: str) -> None:
        """Close the connection with ``code`` (the first reason given wins)."""
        if self.close_code is None:
            self.close_code, self._close_reason = code, _reason(reason)
            self._on_close(code)
        self._closing.set()

    def _broken(self) -> None:
        self._disconnected = True
        self.close(1006, "")

    async def run(self) -> None:
        """Serve the connection until either side closes it."""
        self.outbox.start()
        try:
            if await self._authenticate():
                await self._serve()
        except OutboxClosed:
            pass  # whoever closed the outbox has said why (slow consumer, client gone)
        except Exception:
            log.exception("WebSocket connection %s failed", self.id)
            self.close(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            await self._teardown()

    # -- authentication --------------------------------------------------------------------

    async def _authenticate(self) -> bool:
        credential = self._credential
        if credential is None:
            try:
                self.principal = await self.core.principal(None)
                self._open_by_default = True
            except GatewayError:
                credential = await self._await_key()
                if credential is None:
                    return False
        if credential is not None and not await self._sign_in(credential):
            return False
        self.state = State.OPEN
        await self.outbox.put({"type": "session.created", "session": self._describe()})
        return True

    async def _await_key(self) -> str | None:
        """The key of a first ``session.auth`` message, or None (the connection is being closed)."""
        try:
            message = await asyncio.wait_for(self._receive(), self.settings.auth_timeout)
        except TimeoutError:
            self.close(CloseCode.AUTH_TIMEOUT, "authentication_error: no session.auth in time")
            return None
        if message["type"] != "websocket.receive":
            self._disconnected = True
            return None
        try:
            frame = parse_frame(message, self.settings.max_message_bytes)
        except FrameError:
            frame = None
        if not isinstance(frame, SessionAuth):
            self.close(
                CloseCode.UNAUTHENTICATED,
                "authentication_error: an API key is required; send session.auth first",
            )
            return None
        return frame.key

    async def _sign_in(self, credential: str) -> bool:
        try:
            self.principal = await self.core.principal(credential)
        except GatewayError as error:
            code = CloseCode.TRY_AGAIN_LATER if error.status >= 500 else CloseCode.UNAUTHENTICATED
            self.close(code, f"{error.error_type}: {error.message}")
            return False
        return True

    def _describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "protocol": PROTOCOL,
            "authenticated": self.principal.authenticated,
            "limits": self.settings.limits(),
            "capabilities": {
                "messages": list(TYPES),
                "dialects": ["anthropic", "openai"],
                "rooms": {"backend": self._hub.backend, "history": self.settings.room_history},
            },
        }

    # -- the read loop ---------------------------------------------------------------------

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        closing = loop.create_task(self._closing.wait())
        receiving: asyncio.Future[MutableMapping[str, Any]] | None = None
        try:
            while not self._closing.is_set():
                if receiving is None:
                    receiving = asyncio.ensure_future(self._receive())
                done, _ = await asyncio.wait(
                    (receiving, closing),
                    timeout=self._until_timer(loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if receiving in done:
                    message, receiving = receiving.result(), None
                    if message["type"] == "websocket.disconnect":
                        self._disconnected = True
                        self.close(int(message.get("code") or 1005), "")
                        return
                    self._last_received = loop.time()
                    await self._handle(message)
                elif closing not in done:
                    await self._tick(loop.time())
        finally:
            closing.cancel()
            if receiving is not None:
                receiving.cancel()

    def _until_timer(self, now: float) -> float:
        settings = self.settings
        heartbeat = self.outbox.last_sent + settings.heartbeat_interval
        if heartbeat <= now:
            heartbeat = now + settings.heartbeat_interval  # the writer is busy or stuck: no heartbeat due
        idle = max(self._last_received, self.outbox.last_activity) + settings.idle_timeout
        if self.streams or idle <= now:
            idle = now + settings.idle_timeout
        due = min(heartbeat, idle)
        if self.streams:  # a send blocked on a client that does not read is noticed within send_timeout
            due = min(due, now + settings.send_timeout)
        return max(due - now, 0.001)

    async def _tick(self, now: float) -> None:
        settings = self.settings
        if self.outbox.stuck(now):
            return
        if (
            not self.streams
            and now - max(self._last_received, self.outbox.last_activity) >= settings.idle_timeout
        ):
            self.close(CloseCode.IDLE_TIMEOUT, f"idle for {settings.idle_timeout:g} s")
        elif self.outbox.empty and now - self.outbox.last_sent >= settings.heartbeat_interval * 0.99:
            await self.outbox.put({"type": "heartbeat"}, activity=False)

    async def _handle(self, message: Mapping[str, Any]) -> None:
        try:
            frame = parse_frame(message, self.settings.max_message_bytes)
            await self._dispatch(frame)
        except FrameError as exc:
            await self._send_error(exc)

    async def _dispatch(self, frame: ClientFrame) -> None:
        if isinstance(frame, MessageCreate):
            await self.streams.create(frame)
        elif isinstance(frame, ToolResult):
            await self.streams.resume(frame)
        elif isinstance(frame, MessageCancel):
            self.streams.cancel(frame)
        elif isinstance(frame, RoomJoin):
            self._joined = True
            await self._rooms.join(frame)
        elif isinstance(frame, RoomLeave):
            await self._rooms.leave(frame)
        elif isinstance(frame, Ping):
            await self.outbox.put(self._reply({"type": "pong"}, frame.event_id))
        else:
            await self._reauthenticate(frame)

    @staticmethod
    def _reply(frame: dict[str, Any], client_event_id: str | None) -> dict[str, Any]:
        if client_event_id is not None:
            frame["client_event_id"] = client_event_id
        return frame

    async def _send_error(self, exc: FrameError) -> None:
        frame: dict[str, Any] = {"type": "error", "error": {"type": exc.error_type, "message": exc.message}}
        if exc.param is not None:
            frame["param"] = exc.param
        # An error naming a stream ends that stream; a running one is not ended by a bad message.
        if exc.stream_id is not None and exc.stream_id not in self.streams:
            frame["stream_id"] = exc.stream_id
        if exc.retry_after is not None:
            frame["retry_after"] = round(exc.retry_after, 3)
        await self.outbox.put(self._reply(frame, exc.client_event_id))

    async def _reauthenticate(self, frame: SessionAuth) -> None:
        if not self._open_by_default:
            raise FrameError("session.auth: this connection is already authenticated", "type")
        if self.streams.started or self._joined:
            # Streams and rooms already belong to the anonymous caller (its limits, its rooms).
            raise FrameError("session.auth: must come before any stream or room", "type")
        if await self._sign_in(frame.key):
            self._open_by_default = False
            await self.outbox.put(
                self._reply({"type": "session.updated", "session": self._describe()}, frame.event_id)
            )

    # -- teardown --------------------------------------------------------------------------

    async def _teardown(self) -> None:
        self.state = State.CLOSING
        # Nothing new is queued from here: a stream whose cancellation a library swallowed still
        # stops at its next message instead of running to its end.
        self.outbox.closed = True
        await self.streams.close()  # each stream settles its call as it unwinds
        await self._rooms.close()
        if self.close_code is None:
            self.close(CloseCode.NORMAL, "")
        code = self.close_code or CloseCode.NORMAL
        if self._disconnected or code == CloseCode.SLOW_CONSUMER:
            await self.outbox.abandon()
        else:
            await self.outbox.drain(self.settings.close_timeout)
        if not self._disconnected:
            try:
                close = {"type": "websocket.close", "code": code, "reason": self._close_reason}
                await asyncio.wait_for(self._send(close), self.settings.close_timeout)
            except Exception:  # a client that never reads again, or one already gone
                log.debug("the close frame of %s was not delivered", self.id)
        self.state = State.CLOSED
