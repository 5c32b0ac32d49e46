"""The events of a streamed response (``stream: true``), as the SSE ``data:`` payloads decode."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import Tag, TypeAdapter

from claudegate.types._base import UNKNOWN, UnknownObject, WireModel, type_discriminator
from claudegate.types._content import ContentBlock
from claudegate.types._deltas import Delta
from claudegate.types._errors import ErrorResponse
from claudegate.types._messages import Message, StopReason
from claudegate.types._usage import MessageDeltaUsage

__all__ = [
    "ContentBlockDeltaEvent",
    "ContentBlockStartEvent",
    "ContentBlockStopEvent",
    "ErrorEvent",
    "MessageDeltaBody",
    "MessageDeltaEvent",
    "MessageStartEvent",
    "MessageStopEvent",
    "PingEvent",
    "StreamEvent",
    "UnknownStreamEvent",
    "parse_stream_event",
]


class MessageStartEvent(WireModel):
    """The first event: the message with empty ``content`` and the input side of its usage."""

    type: Literal["message_start"] = "message_start"
    message: Message


class ContentBlockStartEvent(WireModel):
    """A new content block opens at ``index`` (text and tool input arrive empty, then as deltas)."""

    type: Literal["content_block_start"] = "content_block_start"
    index: int
    content_block: ContentBlock


class ContentBlockDeltaEvent(WireModel):
    """An increment to the open block at ``index``."""

    type: Literal["content_block_delta"] = "content_block_delta"
    index: int
    delta: Delta


class ContentBlockStopEvent(WireModel):
    """The block at ``index`` is complete."""

    type: Literal["content_block_stop"] = "content_block_stop"
    index: int


class MessageDeltaBody(WireModel):
    """The ``delta`` of a ``message_delta`` event: why the message stopped (other fields kept)."""

    _sent_nulls: ClassVar[tuple[str, ...]] = ("stop_reason", "stop_sequence")

    stop_reason: StopReason | None = None
    stop_sequence: str | None = None


class MessageDeltaEvent(WireModel):
    """The stop reason and the cumulative usage, after the last block and before ``message_stop``."""

    type: Literal["message_delta"] = "message_delta"
    delta: MessageDeltaBody
    usage: MessageDeltaUsage


class MessageStopEvent(WireModel):
    """The last event of a complete stream."""

    type: Literal["message_stop"] = "message_stop"


class PingEvent(WireModel):
    """A keep-alive; may appear anywhere in the stream."""

    type: Literal["ping"] = "ping"


ErrorEvent = ErrorResponse
"""A mid-stream failure: the error envelope, sent as ``event: error``; nothing follows it."""


class UnknownStreamEvent(UnknownObject):
    """An event of a kind claudegate does not know, kept whole (clients must ignore it)."""


StreamEvent: TypeAlias = Annotated[
    Annotated[MessageStartEvent, Tag("message_start")]
    | Annotated[ContentBlockStartEvent, Tag("content_block_start")]
    | Annotated[ContentBlockDeltaEvent, Tag("content_block_delta")]
    | Annotated[ContentBlockStopEvent, Tag("content_block_stop")]
    | Annotated[MessageDeltaEvent, Tag("message_delta")]
    | Annotated[MessageStopEvent, Tag("message_stop")]
    | Annotated[PingEvent, Tag("ping")]
    | Annotated[ErrorResponse, Tag("error")]
    | Annotated[UnknownStreamEvent, Tag(UNKNOWN)],
    type_discriminator(
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    ),
]
"""Any stream event, typed by its ``type``; unknown kinds parse as ``UnknownStreamEvent``."""

_STREAM_EVENT: TypeAdapter[StreamEvent] = TypeAdapter(StreamEvent)


def parse_stream_event(obj: dict[str, Any]) -> StreamEvent:
    """Parse one decoded SSE ``data:`` payload into its event model; unknown types never fail.

    >>> parse_stream_event({"type": "content_block_stop", "index": 0}).to_dict()
    {'type': 'content_block_stop', 'index': 0}
    """
    return _STREAM_EVENT.validate_python(obj)
