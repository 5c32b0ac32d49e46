"""A streamed message: typed events as they arrive, the text alone, and the final message.

The wire is decoded once into plain dicts; the accumulator builds the message from those, and
typed event models are made only for a caller who iterates the events themselves.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import orjson

from claudegate.client._client import parse_body
from claudegate.client._observers import StreamObserver, notify
from claudegate.client._pipeline import UsageRecorder
from claudegate.client._transport import Response
from claudegate.errors import APIConnectionError, StreamProtocolError, error_from_envelope
from claudegate.sse import MessageAccumulator, ServerSentEvent, SSEDecoder
from claudegate.types import Message, StreamEvent, parse_message, parse_stream_event

__all__ = ["AsyncMessageStream", "AsyncMessageStreamManager"]


class AsyncMessageStream:
    """One streamed message. Iterate it for typed events, or use ``text_stream``, or just await
    ``get_final_message()``; each event is consumed once, whichever way you read it."""

    def __init__(
        self,
        response: Response,
        observers: Sequence[StreamObserver] = (),
        *,
        on_usage: UsageRecorder | None = None,
    ) -> None:
        self.response = response
        self.attempts = response.attempts
        self._observers = tuple(observers)
        self._on_usage = on_usage
        self._accumulator = MessageAccumulator()
        self._events = self._event_dicts()
        self._final: Message | None = None

    @property
    def request_id(self) -> str | None:
        return self.response.request_id

    async def _event_dicts(self) -> AsyncGenerator[dict[str, Any], None]:
        decoder = SSEDecoder()
        try:
            async for chunk in self.response.aiter_bytes():
                for sse in decoder.feed(chunk):
                    event = self._handle(sse)
                    if event is not None:
                        yield event
            for sse in decoder.flush():
                event = self._handle(sse)
                if event is not None:
                    yield event
            if not self._accumulator.done:
                raise APIConnectionError(
                    "the stream ended before message_stop: the connection was closed early",
                    attempts=self.attempts,
                )
        except Exception as exc:
            notify(self._observers, "on_error", exc)
            raise
        finally:
            self._report_usage()
            await self.response.aclose()

    def _report_usage(self) -> None:
        """Hand the usage accumulated so far to ``on_usage``, once, however the stream ended."""
        report, self._on_usage = self._on_usage, None
        if report is None:
            return
        try:
            usage = self._accumulator.message.get("usage")
        except StreamProtocolError:  # closed before message_start: nothing was reported
            usage = None
        report(usage if isinstance(usage, dict) else None)

    def _handle(self, sse: ServerSentEvent) -> dict[str, Any] | None:
        """One decoded frame: checked, accumulated and observed; None for frames to skip."""
        if sse.event is None or not sse.data:  # frames without ``event:`` are not Anthropic events
            return None
        try:
            event: dict[str, Any] = orjson.loads(sse.data)
        except orjson.JSONDecodeError as exc:
            raise StreamProtocolError(f"a stream event's data is not JSON: {exc}") from exc
        kind = event.get("type")
        if kind == "error":
            raise error_from_envelope(None, event, request_id=self.request_id, attempts=self.attempts)
        self._accumulator.feed(event)
        if self._observers:
            self._notify(kind, event)
        return event

    def _notify(self, kind: str | None, event: dict[str, Any]) -> None:
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                notify(self._observers, "on_text", delta.get("text", ""))
        elif kind == "content_block_stop":
            content = self._accumulator.message.get("content") or []
            index = event.get("index")
            if (
                isinstance(index, int)
                and 0 <= index < len(content)
                and content[index].get("type") == "tool_use"
            ):
                notify(self._observers, "on_tool_use", content[index])
        elif kind == "message_stop":
            notify(self._observers, "on_message", self._accumulator.message)

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._typed()

    async def _typed(self) -> AsyncIterator[StreamEvent]:
        async for event in self._events:
            yield parse_stream_event(event)

    def raw_events(self) -> AsyncIterator[dict[str, Any]]:
        """The events as decoded JSON dicts (cheaper than the typed ones)."""
        return self._events

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Only the text, as it arrives. ``async for text in stream.text_stream: ...``"""
        return self._text()

    async def _text(self) -> AsyncIterator[str]:
        async for event in self._events:
            if event.get("type") == "content_block_delta":
                delta = event.get("delta") or {}
                if delta.get("type") == "text_delta":
                    yield delta.get("text", "")

    async def until_done(self) -> None:
        """Read the stream to its end."""
        async for _ in self._events:
            pass

    def current_message_snapshot(self) -> dict[str, Any]:
        """The message as accumulated so far (a dict; tool inputs parsed once their block stops)."""
        return self._accumulator.message

    async def get_final_message(self) -> Message:
        """Read to the end and return the accumulated message."""
        if self._final is None:
            await self.until_done()
            self._final = parse_body(parse_message, self._accumulator.message, self.request_id)
        return self._final

    async def get_final_text(self) -> str:
        """Read to the end and return the text blocks joined."""
        message = await self.get_final_message()
        return "".join(getattr(block, "text", "") for block in message.content if block.type == "text")

    async def close(self) -> None:
        """Stop reading and release the connection (also when nothing was read)."""
        await self._events.aclose()
        self._report_usage()
        await self.response.aclose()


class AsyncMessageStreamManager:
    """``async with client.messages.stream(...) as stream`` — sends on enter, closes on exit."""

    def __init__(self, opener: Callable[[], Awaitable[AsyncMessageStream]]) -> None:
        self._opener = opener
        self._stream: AsyncMessageStream | None = None

    async def __aenter__(self) -> AsyncMessageStream:
        self._stream = await self._opener()
        return self._stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is not None:
            await self._stream.close()
