"""The subscriptions: a streamed answer's events, a job's changes, a room's events.

``messageStream`` is one core stream: it is admitted, limited and billed like ``POST /v1/messages``
with ``stream: true``; when the client stops the subscription (or leaves), the upstream request is
cancelled and the call settles once, with status 499.
"""

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import orjson
import strawberry

from claudegate.gateway.core import Call, GatewayError, classify, shown
from claudegate.gateway.surfaces.graphql._context import GraphQLContext
from claudegate.gateway.surfaces.graphql._inputs import MessageInput, bad_input
from claudegate.gateway.surfaces.graphql._mutations import message_call
from claudegate.gateway.surfaces.graphql._types import MessageEvent, RoomMessage, as_json
from claudegate.gateway.surfaces.graphql._views import JobView, job_view, usage_of

__all__ = ["EventReader", "Subscription", "message_event_values"]

Info = strawberry.Info[GraphQLContext, None]

_MAX_ROOM = 128


class EventReader:
    """Turns Anthropic stream events into ``MessageEvent`` fields, keeping each tool call's
    arguments so that its ``content_block_stop`` carries them whole."""

    def __init__(self) -> None:
        self._blocks: dict[int, dict[str, Any]] = {}

    def read(self, event: dict[str, Any]) -> MessageEvent:
        """``event`` as a ``MessageEvent``."""
        return MessageEvent(**self.values(event))

    def values(self, event: dict[str, Any]) -> dict[str, Any]:
        """Every field of ``event``'s ``MessageEvent`` by attribute name (what ``read`` builds it
        from; a planned subscription's events are built from these without the object)."""
        kind = str(event.get("type", ""))
        index = event.get("index")
        values: dict[str, Any] = {
            "type": kind,
            "index": index if isinstance(index, int) else None,
            "event": as_json(event),
            "text": None,
            "thinking": None,
            "signature": None,
            "partial_json": None,
            "tool_use_id": None,
            "tool_name": None,
            "tool_input": None,
            "usage": None,
            "stop_reason": None,
        }
        if kind == "content_block_delta" and isinstance(index, int):
            self._delta(values, index, event.get("delta"))
        elif kind == "content_block_start" and isinstance(index, int):
            block = event.get("content_block")
            if isinstance(block, dict) and block.get("type") in ("tool_use", "server_tool_use"):
                self._blocks[index] = {"block": block, "json": []}
                values["tool_use_id"], values["tool_name"] = block.get("id"), block.get("name")
        elif kind == "content_block_stop" and isinstance(index, int):
            self._stop(values, index)
        elif kind == "message_start":
            message = event.get("message")
            if isinstance(message, dict):
                values["usage"] = usage_of(message.get("usage"))
        elif kind == "message_delta":
            delta = event.get("delta")
            values["stop_reason"] = delta.get("stop_reason") if isinstance(delta, dict) else None
            usage = event.get("usage")
            values["usage"] = usage_of(usage) if isinstance(usage, dict) else None
        return values

    def _delta(self, values: dict[str, Any], index: int, delta: Any) -> None:
        if not isinstance(delta, dict):
            return
        kind = delta.get("type")
        if kind == "text_delta":
            values["text"] = delta.get("text")
        elif kind == "input_json_delta":
            partial = values["partial_json"] = delta.get("partial_json")
            tool = self._blocks.get(index)
            if tool is not None and isinstance(partial, str):
                tool["json"].append(partial)
        elif kind == "thinking_delta":
            values["thinking"] = delta.get("thinking")
        elif kind == "signature_delta":
            values["signature"] = delta.get("signature")

    def _stop(self, values: dict[str, Any], index: int) -> None:
        tool = self._blocks.pop(index, None)
        if tool is None:
            return
        block, text = tool["block"], "".join(tool["json"])
        values["tool_use_id"], values["tool_name"] = block.get("id"), block.get("name")
        try:
            values["tool_input"] = orjson.loads(text) if text else block.get("input", {})
        except orjson.JSONDecodeError:
            values["tool_input"] = None  # the partial JSON is still in the deltas, as it came


async def message_event_values(context: GraphQLContext, call: Call) -> AsyncGenerator[dict[str, Any], None]:
    """The events of ``call``'s core stream as ``MessageEvent`` fields (``EventReader.values``),
    each with ``follows`` (more events of the same upstream read follow): ``messageStream``'s
    source, also read directly by the ``graphql-transport-ws`` handler (see ``_direct``). Closing
    it cancels the upstream request."""
    reply = await context.core.stream(call)
    reader = EventReader()
    try:
        async for batch in reply.batches():
            if call.first_byte is None:  # the access log's time to first event
                call.first_byte = time.perf_counter() - call.started
            last = len(batch) - 1
            for position, event in enumerate(batch):
                values = reader.values(event)
                values["follows"] = position < last
                yield values
    except Exception as exc:  # after the first event: the error ends the subscription
        raise classify(exc) from None
    finally:
        await reply.aclose()


@strawberry.type
class Subscription:
    @strawberry.subscription(description="The events of one streamed answer (the SSE stream's events).")
    async def message_stream(self, info: Info, input: MessageInput) -> AsyncGenerator[MessageEvent, None]:
        context = info.context
        source = message_event_values(context, message_call(context, input, stream=True))
        async with aclosing(source):
            async for values in source:
                yield MessageEvent(**values)

    @strawberry.subscription(description="A job's state now, then each change, until it ends.")
    async def job_updates(self, info: Info, id: str) -> AsyncGenerator[JobView, None]:
        owner = info.context.principal.owner
        engine = await info.context.services.jobs.engine()
        seen: tuple[str, int] | None = None
        while True:
            job = await engine.get(id, owner)
            if job is None:
                raise GatewayError(404, "not_found_error", f"no job {shown(id)!r}")
            if (job.status, job.attempts) != seen:
                seen = (job.status, job.attempts)
                yield job_view(job)
            if job.done:
                return
            async with engine.changed:  # woken by this process; other replicas' changes by polling
                try:
                    await asyncio.wait_for(engine.changed.wait(), engine.config.poll)
                except TimeoutError:
                    pass

    @strawberry.subscription(
        description="The events of one of the caller's rooms (`/v1/ws` rooms), on any replica."
    )
    async def room_events(
        self, info: Info, room: str, since: str | None = None
    ) -> AsyncGenerator[RoomMessage, None]:
        owner = info.context.principal.owner
        if not room or len(room) > _MAX_ROOM:
            raise bad_input(f"must be 1 to {_MAX_ROOM} characters", "room")
        hub = info.context.services.hub()
        if hub is None:
            raise GatewayError(503, "api_error", "the room service is not running")
        if since is not None and not hub.valid_id(since):
            raise bad_input(f"{shown(since, 40)!r} is not an event id of this gateway's rooms", "since")
        subscription = await hub.subscribe(f"{owner}/{room}", since)
        try:
            async for event in subscription:
                data = {key: value for key, value in event.data.items() if key != "origin"}
                stream_id = data.get("stream_id")
                yield RoomMessage(
                    id=event.id,
                    room=room,
                    type=str(data.get("type", "")),
                    stream_id=stream_id if isinstance(stream_id, str) else None,
                    data=as_json(data),
                )
            if subscription.lagged:
                raise GatewayError(
                    503, "overloaded_error", f"fell behind room {room!r}; subscribe again with since"
                )
        finally:
            subscription.close()
