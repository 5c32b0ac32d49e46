"""Server-sent events for the Anthropic stream: decode, encode, accumulate, validate (no I/O).

>>> decoder = SSEDecoder()
>>> accumulator = MessageAccumulator()
>>> for chunk in body_chunks:
...     for event in decoder.feed(chunk):
...         accumulator.feed(event.json())
"""

from __future__ import annotations

from claudegate.sse._accumulator import MessageAccumulator
from claudegate.sse._decoder import ServerSentEvent, SSEDecoder, aiter_sse
from claudegate.sse._encoder import encode_comment, encode_event, encode_json_event
from claudegate.sse._from_message import message_to_events
from claudegate.sse._partial_json import parse_partial_json
from claudegate.sse._validate import validate_anthropic_events, validate_anthropic_sse

__all__ = [
    "MessageAccumulator",
    "SSEDecoder",
    "ServerSentEvent",
    "aiter_sse",
    "encode_comment",
    "encode_event",
    "encode_json_event",
    "message_to_events",
    "parse_partial_json",
    "validate_anthropic_events",
    "validate_anthropic_sse",
]
