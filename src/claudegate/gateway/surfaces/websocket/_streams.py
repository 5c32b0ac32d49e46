"""One stream of a WebSocket connection: the core call, its events framed as ``message.event``
messages, and its one terminal message (``message.done`` or ``error``); plus the conversations a
connection keeps so that a ``tool_result`` can continue a finished ``tool_use`` stream.

A stream's events are the core's canonical Anthropic events, unchanged; for the ``openai`` dialect
they are OpenAI ``chat.completion.chunk`` objects made by ``MessagesToChatStream``. An upstream
``error`` event, or a failure before or during the stream, ends it with an ``error`` message.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence, Sized
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from claudegate.errors import ClaudegateError
from claudegate.gateway.core import Call, GatewayCore, GatewayError, StreamReply, anthropic_error, classify
from claudegate.gateway.surfaces.websocket._flow import OutboxClosed
from claudegate.gateway.surfaces.websocket._protocol import FrameError, ToolResult
from claudegate.sse import MessageAccumulator
from claudegate.translate import MessagesToChatStream

__all__ = ["ROUTE", "Conversation", "Conversations", "Sink", "StreamRun", "continuation", "stream_error"]

ROUTE = "/v1/ws"
"""The route label of WebSocket streams in the gateway's metrics."""

Publish = Callable[[Sequence[dict[str, Any]]], Awaitable[None]]


class Sink(Protocol):
    """Where a stream's messages go: a connection's ``Outbox``, or another transport's sender.
    ``put_text`` / ``put_texts`` take messages already encoded (each carries its ``event_id``);
    ``write_texts`` takes them only if it can send them without waiting (False: nothing was taken,
    ``put_texts`` them), ``at_once`` when no other stream of the connection is running."""

    def next_event_id(self) -> str: ...

    async def put(self, frame: dict[str, Any]) -> None: ...

    async def put_text(self, text: str) -> None: ...

    async def put_texts(self, texts: list[str]) -> None: ...

    def write_texts(self, texts: list[str], at_once: bool = False) -> bool: ...


@dataclass(frozen=True, slots=True)
class Conversation:
    """A finished ``tool_use`` stream: the request it answered and the assistant message it sent."""

    request: dict[str, Any]
    assistant: dict[str, Any]
    dialect: Literal["anthropic", "openai"]
    include_usage: bool
    response_tool: str | None
    size: int


class Conversations:
    """The conversations of one connection, newest last, bounded in number and in bytes."""

    def __init__(self, max_count: int, max_bytes: int) -> None:
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._max_count = max_count
        self._max_bytes = max_bytes
        self._bytes = 0

    def keep(self, stream_id: str, conversation: Conversation) -> None:
        """Keep ``conversation`` under ``stream_id`` (dropping the oldest beyond the bounds)."""
        self.forget(stream_id)
        if conversation.size > self._max_bytes or self._max_count < 1:
            return
        self._items[stream_id] = conversation
        self._bytes += conversation.size
        while len(self._items) > self._max_count or self._bytes > self._max_bytes:
            _, oldest = self._items.popitem(last=False)
            self._bytes -= oldest.size

    def forget(self, stream_id: str) -> None:
        old = self._items.pop(stream_id, None)
        if old is not None:
            self._bytes -= old.size

    def get(self, stream_id: str) -> Conversation | None:
        return self._items.get(stream_id)


def _result_block(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise FrameError(f"{where}: must be a tool_result block", where)
    block: dict[str, Any] = item
    if "tool_call_id" in block and "type" not in block:  # an OpenAI tool message
        block = {
            "type": "tool_result",
            "tool_use_id": block["tool_call_id"],
            "content": block.get("content", ""),
        }
    if block.get("type") != "tool_result":
        raise FrameError(f"{where}.type: must be 'tool_result'", f"{where}.type")
    return block


def continuation(conversation: Conversation, frame: ToolResult) -> dict[str, Any]:
    """The next request of ``conversation``: its messages, the assistant's tool_use turn, then a user
    turn of the results (one for every tool_use, in any order), with ``frame.request`` applied."""
    content = conversation.assistant.get("content")
    blocks = content if isinstance(content, list) else []
    calls = [
        block.get("id") for block in blocks if isinstance(block, dict) and block.get("type") == "tool_use"
    ]
    results = []
    for position, item in enumerate(frame.results):
        where = f"results[{position}]"
        block = _result_block(item, where)
        if block.get("tool_use_id") not in calls:
            raise FrameError(
                f"{where}.tool_use_id: {block.get('tool_use_id')!r} is not a tool call of stream "
                f"{frame.previous_stream_id!r} (its calls: {', '.join(map(str, calls))})",
                f"{where}.tool_use_id",
            )
        results.append(block)
    answered = {block["tool_use_id"] for block in results}
    missing = [call for call in calls if call not in answered]
    if missing:
        raise FrameError(f"results: no result for tool call {missing[0]!r}", "results")
    messages = [
        *conversation.request["messages"],
        {"role": "assistant", "content": blocks},
        {"role": "user", "content": results},
    ]
    return {**conversation.request, **frame.request, "messages": messages, "stream": True}


def stream_error(stream_id: str, error: GatewayError, request_id: str, room: str | None) -> dict[str, Any]:
    """The ``error`` message that ends a stream (the Anthropic error object, as the API sends it)."""
    envelope = anthropic_error(error, request_id)
    frame: dict[str, Any] = {
        "type": "error",
        "stream_id": stream_id,
        "error": envelope["error"],
        "request_id": envelope["request_id"],
        "status": error.status,
    }
    if error.param is not None:
        frame["param"] = "request." + error.param
    retry_after = error.headers.get("retry-after")
    if retry_after is not None:
        try:
            frame["retry_after"] = float(retry_after)
        except ValueError:
            pass
    if room is not None:
        frame["room"] = room
    return frame


class StreamRun:
    """One stream: run it with ``run()`` (as a task), stop it with ``cancel()``."""

    def __init__(
        self,
        core: GatewayCore,
        outbox: Sink,
        stream_id: str,
        call: Call,
        *,
        dialect: Literal["anthropic", "openai"],
        include_usage: bool = False,
        response_tool: str | None = None,
        room: str | None = None,
        publish: Publish | None = None,
        conversations: Conversations,
        on_end: Callable[[StreamRun], None],
        batch: bool = False,
        route: str = ROUTE,
        siblings: Sized = (),
    ) -> None:
        self.core = core
        self.route = route
        """The route label of the stream's metrics."""
        self.outbox = outbox
        self.stream_id = stream_id
        self.call = call
        self.dialect = dialect
        self.include_usage = include_usage
        self.response_tool = response_tool
        self.room = room
        self.task: asyncio.Task[None] | None = None
        self.cancel_requested = False
        self.ending = False
        self._publish = publish
        self._conversations = conversations
        self._on_end = on_end
        self.batch = batch
        self._siblings = siblings
        """The connection's running streams (this one among them): when it is alone, its
        messages are written at once."""
        # Only a request with tools can stop for tools and be continued: only then is the answer
        # assembled (it costs more per event than relaying it).
        self._accumulator: MessageAccumulator | None = (
            MessageAccumulator() if call.request.get("tools") else None
        )
        self._translator = (
            MessagesToChatStream(include_usage=include_usage, response_tool=response_tool)
            if dialect == "openai"
            else None
        )

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run(), name=f"claudegate-ws-{self.stream_id}")

    def cancel(self) -> None:
        """Stop the stream: the upstream is closed and the stream ends with ``message.done``."""
        if self.cancel_requested or self.ending:
            return
        self.cancel_requested = True
        if self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        """Answer the call; always ends with one terminal message unless the connection closes."""
        call, metrics = self.call, self.core.metrics
        metrics.active_streams += 1
        try:
            try:
                terminal = await self._answer()
            except asyncio.CancelledError:
                if not self._cancel_accepted():
                    raise
                terminal = self._done(cancelled=True)
            self.ending = True  # from here a message.cancel has nothing left to stop
            await self._emit([terminal])
        except OutboxClosed:
            pass  # the connection is closing; the call has been settled all the same
        finally:
            metrics.active_streams -= 1
            outcome = call.outcome
            label = outcome.model_label or "other"  # bounded: made-up model names fold into "other"
            metrics.requests.inc((self.route, label, outcome.deployment, str(outcome.status)))
            metrics.latency.observe((self.route,), time.perf_counter() - call.started)
            self._on_end(self)

    def _cancel_accepted(self) -> bool:
        """Whether a cancellation is the client's ``message.cancel`` (then it is absorbed here)."""
        task = asyncio.current_task()
        if not self.cancel_requested or task is None or task.cancelling() > 1:
            return False
        task.uncancel()
        return True

    async def _answer(self) -> dict[str, Any]:
        try:
            reply = await self.core.stream(self.call)
        except asyncio.CancelledError:
            if not self._cancel_accepted():
                raise
            return self._done(cancelled=True)
        except Exception as exc:
            return stream_error(self.stream_id, classify(exc), self.call.request_id, self.room)
        try:
            terminal, cancelled = await self._relay(reply)
        finally:
            await reply.aclose()
        self._remember()
        return terminal or self._done(cancelled)

    async def _relay(self, reply: StreamReply) -> tuple[dict[str, Any] | None, bool]:
        # Plain relaying (no room, no translation, no continuation to assemble) frames the
        # upstream's own event JSON as it comes: nothing is decoded and encoded again.
        plain = self.room is None and self._translator is None and self._accumulator is None
        batches: AsyncIterator[Any] = reply.raw_events() if plain else reply.batches()
        try:
            if plain:
                return await self._forward_raw(batches, reply), False
            return await self._forward(batches), False
        except ClaudegateError as exc:
            return stream_error(self.stream_id, classify(exc), self.call.request_id, self.room), False
        except asyncio.CancelledError:
            if not self._cancel_accepted():
                raise
            return None, True
        finally:
            closer = getattr(batches, "aclose", None)  # an upstream error event leaves it unfinished
            if closer is not None:
                await closer()

    async def _forward(self, batches: AsyncIterator[list[dict[str, Any]]]) -> dict[str, Any] | None:
        """Frame and send every event; the terminal ``error`` when the upstream sent one."""
        first = True
        async for batch in batches:
            frames: list[dict[str, Any]] = []
            for event in batch:
                if event.get("type") == "error":
                    await self._emit(frames)
                    return self._upstream_error(event)
                if self._accumulator is not None:
                    self._accumulate(event)
                frames.extend(self._frames(event))
            if frames:
                if first:
                    first = False
                    elapsed = self.call.first_byte = time.perf_counter() - self.call.started
                    self.core.metrics.time_to_first_byte.observe((self.route,), elapsed)
                await self._emit(self._batched(frames) if self.batch else frames)
        if self._translator is not None:
            await self._emit([self._frame(chunk) for chunk in self._translator.finish()])
        return None

    def _frame(self, event: dict[str, Any]) -> dict[str, Any]:
        frame = {
            "type": "message.event",
            "event_id": self.outbox.next_event_id(),
            "stream_id": self.stream_id,
            "event": event,
        }
        if self.room is not None:
            frame["room"] = self.room
        return frame

    async def _forward_raw(
        self, batches: AsyncIterator[list[tuple[str, str]]], reply: StreamReply
    ) -> dict[str, Any] | None:
        """``_forward`` for plain relaying: messages built around each event's own JSON text, handed
        to the sink without an await when it takes them at once — written at once when the stream
        is the connection's only one, unless the answer is whole (its terminal message follows, to
        share the write)."""
        outbox, first, batched, siblings = self.outbox, True, self.batch, self._siblings
        stream = orjson.dumps(self.stream_id).decode()
        if batched:  # the items of a message.events
            head, middle = '{"event_id":"', '","event":'
        else:
            head, middle = '{"type":"message.event","event_id":"', '","stream_id":' + stream + ',"event":'
        next_id = outbox.next_event_id
        async for batch in batches:
            texts: list[str] = []
            for kind, data in batch:
                if kind == "error":
                    if texts:
                        await outbox.put_texts(self._events_message(stream, texts) if batched else texts)
                    return self._upstream_error(orjson.loads(data))
                texts.append(head + next_id() + middle + data + "}")
            if texts:
                if first:
                    first = False
                    elapsed = self.call.first_byte = time.perf_counter() - self.call.started
                    self.core.metrics.time_to_first_byte.observe((self.route,), elapsed)
                if batched:
                    texts = self._events_message(stream, texts)
                if not outbox.write_texts(texts, len(siblings) < 2 and not reply.finished):
                    await outbox.put_texts(texts)
        return None

    def _events_message(self, stream: str, items: list[str]) -> list[str]:
        """The ``message.events`` message of ``items`` (``{"event_id", "event"}`` objects in JSON);
        ``stream`` is the stream id in JSON."""
        return [
            '{"type":"message.events","event_id":"'
            + self.outbox.next_event_id()
            + '","stream_id":'
            + stream
            + ',"events":['
            + ",".join(items)
            + "]}"
        ]

    def _batched(self, frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The frames of one upstream read as one ``message.events`` frame (fewer, larger writes)."""
        batch = {
            "type": "message.events",
            "event_id": self.outbox.next_event_id(),
            "stream_id": self.stream_id,
            "events": [{"event_id": frame["event_id"], "event": frame["event"]} for frame in frames],
        }
        if self.room is not None:
            batch["room"] = self.room
        return [batch]

    def _frames(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if self._translator is None:
            return [self._frame(event)]
        return [self._frame(chunk) for chunk in self._translator.feed(event)]

    async def _emit(self, frames: Sequence[dict[str, Any]]) -> None:
        if not frames:
            return
        for frame in frames:
            await self.outbox.put(frame)
        if self._publish is not None:
            await self._publish(frames)

    def _accumulate(self, event: dict[str, Any]) -> None:
        accumulator = self._accumulator
        if accumulator is None:
            return
        try:
            accumulator.feed(event)
        except Exception:  # an odd stream is still relayed; it just cannot be continued
            self._accumulator = None

    def _remember(self) -> None:
        accumulator = self._accumulator
        if accumulator is None or not accumulator.done:
            return
        message = accumulator.message
        if message.get("stop_reason") != "tool_use":
            return
        request = self.call.request
        size = len(orjson.dumps(request)) + len(orjson.dumps(message))
        conversation = Conversation(
            request, message, self.dialect, self.include_usage, self.response_tool, size
        )
        self._conversations.keep(self.stream_id, conversation)

    def _upstream_error(self, event: dict[str, Any]) -> dict[str, Any]:
        error = event.get("error")
        outcome = self.call.outcome
        frame: dict[str, Any] = {
            "type": "error",
            "stream_id": self.stream_id,
            "error": error if isinstance(error, dict) else {"type": "api_error", "message": "upstream error"},
            "request_id": self.call.request_id,
            "status": outcome.status,
        }
        if self.room is not None:
            frame["room"] = self.room
        return frame

    def _done(self, cancelled: bool) -> dict[str, Any]:
        call, outcome = self.call, self.call.outcome
        frame: dict[str, Any] = {
            "type": "message.done",
            "stream_id": self.stream_id,
            "request_id": call.request_id,
            "model": call.model,
            "stop_reason": outcome.stop_reason,
            "usage": outcome.usage,
            "cost": outcome.cost,
            "status": outcome.status,
            "cancelled": cancelled,
        }
        if self.room is not None:
            frame["room"] = self.room
        return frame
