"""Starting streams on one WebSocket connection: checking a ``message.create`` or ``tool_result``,
applying the connection's caps (streams at once, new streams per minute), building the core call,
and keeping the table of running streams.

A refused stream is answered by a ``FrameError`` naming the stream (its one terminal message);
only a ``stream_id`` that is still running is refused without naming it, since an error naming a
running stream would read as that stream's end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

import orjson

from claudegate.gateway._http import DEFAULT_VERSION
from claudegate.gateway.core import Call, Dialect, GatewayCore, Principal, classify, new_request_id, require
from claudegate.gateway.surfaces.websocket._flow import MessageRate
from claudegate.gateway.surfaces.websocket._protocol import (
    FrameError,
    MessageCancel,
    MessageCreate,
    ToolResult,
)
from claudegate.gateway.surfaces.websocket._streams import (
    ROUTE,
    Conversations,
    Publish,
    Sink,
    StreamRun,
    continuation,
)
from claudegate.translate import chat_request_to_messages, response_format_tool_name

__all__ = ["RoomPublishers", "StreamLimits", "Streams"]

log = logging.getLogger("claudegate.gateway")


class StreamLimits(Protocol):
    """A connection's caps on its streams (``WebSocketSettings``, ``SocketIOSettings``)."""

    @property
    def max_streams(self) -> int: ...
    @property
    def messages_per_minute(self) -> int | None: ...
    @property
    def max_conversations(self) -> int: ...
    @property
    def conversation_bytes(self) -> int: ...


class RoomPublishers(Protocol):
    """A connection's rooms, as far as its streams need them: a way to copy messages into one."""

    def publisher(self, room: str) -> Publish: ...


def _check_request(request: dict[str, Any]) -> None:
    require(request, "model", str, "a model name")
    require(request, "max_tokens", int, "an integer")
    require(request, "messages", list, "a list of messages")
    request["stream"] = True


def _refusal(exc: Exception, stream_id: str, event_id: str | None) -> FrameError:
    if isinstance(exc, FrameError):
        exc.stream_id, exc.client_event_id = stream_id, event_id
        return exc
    error = classify(exc)
    if error.status == 500:
        log.exception("checking a WebSocket request failed")
    param = "request." + error.param if error.param else None
    return FrameError(
        error.message, param, error_type=error.error_type, stream_id=stream_id, client_event_id=event_id
    )


class Streams:
    """The streams of one connection: started here, each running as its own task."""

    def __init__(
        self,
        core: GatewayCore,
        settings: StreamLimits,
        outbox: Sink,
        rooms: RoomPublishers,
        *,
        session_id: str,
        principal: Callable[[], Principal],
        forwarded: Mapping[str, str],
        clock: Callable[[], float],
        dialect: Dialect = "websocket",
        route: str = ROUTE,
    ) -> None:
        self.running: dict[str, StreamRun] = {}
        self.started = False
        """Whether any stream was ever started on the connection."""
        self._core = core
        self._settings = settings
        self._outbox = outbox
        self._rooms = rooms
        self._session_id = session_id
        self._principal = principal
        self._forwarded = dict(forwarded)
        self._rate = MessageRate(settings.messages_per_minute, clock)
        self._conversations = Conversations(settings.max_conversations, settings.conversation_bytes)
        self._dialect: Dialect = dialect
        self._route = route

    def __len__(self) -> int:
        return len(self.running)

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self.running

    async def create(self, frame: MessageCreate) -> None:
        """Start the stream a ``message.create`` asks for."""
        self._check_new(frame.stream_id, frame.event_id)
        include_usage, response_tool = False, None
        try:
            if frame.dialect == "openai":
                chat = frame.request
                require(chat, "model", str, "a model name")
                require(chat, "messages", list, "a list of messages")
                default = self._core.config.gateway.default_max_tokens
                request = chat_request_to_messages(chat, default_max_tokens=default)
                options = chat.get("stream_options")
                include_usage = isinstance(options, dict) and options.get("include_usage") is True
                response_tool = response_format_tool_name(chat)
            else:
                request = dict(frame.request)
            _check_request(request)
        except Exception as exc:
            raise _refusal(exc, frame.stream_id, frame.event_id) from None
        self._admit(frame.stream_id, frame.event_id)
        self._start(frame.stream_id, request, frame, frame.dialect, include_usage, response_tool)

    async def resume(self, frame: ToolResult) -> None:
        """Start the stream that continues a finished ``tool_use`` stream with its tool results."""
        self._check_new(frame.stream_id, frame.event_id)
        conversation = self._conversations.get(frame.previous_stream_id)
        if conversation is None:
            raise FrameError(
                f"previous_stream_id: no finished tool_use stream {frame.previous_stream_id!r} "
                "on this connection",
                "previous_stream_id",
                stream_id=frame.stream_id,
                client_event_id=frame.event_id,
            )
        try:
            request = continuation(conversation, frame)
            _check_request(request)
        except Exception as exc:
            raise _refusal(exc, frame.stream_id, frame.event_id) from None
        self._admit(frame.stream_id, frame.event_id)
        self._start(
            frame.stream_id,
            request,
            frame,
            conversation.dialect,
            conversation.include_usage,
            conversation.response_tool,
        )

    def cancel(self, frame: MessageCancel) -> None:
        """Stop a running stream (it ends with its ``message.done``)."""
        run = self.running.get(frame.stream_id)
        if run is None:
            raise FrameError(
                f"stream_id: no running stream {frame.stream_id!r}",
                "stream_id",
                client_event_id=frame.event_id,
            )
        run.cancel()

    async def close(self) -> None:
        """Cancel every running stream and wait while each settles its call."""
        tasks = [run.task for run in self.running.values() if run.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _check_new(self, stream_id: str, event_id: str | None) -> None:
        if stream_id in self.running:
            raise FrameError(
                f"stream_id: stream {stream_id!r} is still running", "stream_id", client_event_id=event_id
            )

    def _admit(self, stream_id: str, event_id: str | None) -> None:
        """Refuse a stream over this connection's concurrency cap or message rate."""
        limit = self._settings.max_streams
        if len(self.running) >= limit:
            raise FrameError(
                f"at most {limit} streams at once on one connection",
                error_type="rate_limit_error",
                stream_id=stream_id,
                client_event_id=event_id,
            )
        wait = self._rate.admit()
        if wait is not None:
            raise FrameError(
                f"at most {self._settings.messages_per_minute} new streams per minute on one connection",
                error_type="rate_limit_error",
                stream_id=stream_id,
                client_event_id=event_id,
                retry_after=wait,
            )

    def _start(
        self,
        stream_id: str,
        request: dict[str, Any],
        frame: MessageCreate | ToolResult,
        dialect: Literal["anthropic", "openai"],
        include_usage: bool,
        response_tool: str | None,
    ) -> None:
        self.started = True
        headers = {**self._forwarded, **frame.headers}
        headers.setdefault("anthropic-version", DEFAULT_VERSION)
        call = Call(
            self._principal(),
            self._dialect,
            request,
            stream=True,
            size=len(orjson.dumps(request)),
            headers=headers,
            request_id=new_request_id(),
            session=self._session_id,
            access=("tool_result" if isinstance(frame, ToolResult) else "message.create", self._route),
        )
        self._conversations.forget(stream_id)
        run = StreamRun(
            self._core,
            self._outbox,
            stream_id,
            call,
            dialect=dialect,
            include_usage=include_usage,
            response_tool=response_tool,
            room=frame.room,
            publish=self._rooms.publisher(frame.room) if frame.room is not None else None,
            conversations=self._conversations,
            on_end=self._ended,
            batch=frame.batch,
            route=self._route,
            siblings=self.running,
        )
        self.running[stream_id] = run
        run.start()

    def _ended(self, run: StreamRun) -> None:
        if self.running.get(run.stream_id) is run:
            del self.running[run.stream_id]
