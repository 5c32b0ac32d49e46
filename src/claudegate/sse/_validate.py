"""The one stream validator: checks that an Anthropic stream keeps every ordering rule, end to end.

Used across the test suite on every stream claudegate emits (simulator, gateway, translators).
Beyond what ``MessageAccumulator`` refuses, a stream must hold exactly one ``message_start``, end
with one ``message_delta`` (carrying usage) then ``message_stop``, and stop every block before
``message_delta``, except a block cut open by ``stop_reason: max_tokens``, as the live API does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from claudegate.errors import StreamProtocolError
from claudegate.sse._accumulator import MessageAccumulator
from claudegate.sse._decoder import SSEDecoder

__all__ = ["validate_anthropic_events", "validate_anthropic_sse"]


def validate_anthropic_events(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Check a whole stream of decoded Anthropic events and return the final message.

    Raises ``StreamProtocolError`` naming the first rule broken, or the matching
    ``APIStatusError`` when the stream carries an ``error`` event.

    >>> message = validate_anthropic_events(event.json() for event in decoded)
    """
    accumulator = MessageAccumulator()
    open_index: int | None = None
    message_start_seen = message_delta_seen = False
    for event in events:
        accumulator.feed(event)
        kind = event["type"]
        if kind == "message_start":
            message_start_seen = True
            if not isinstance(event["message"].get("usage"), dict):
                raise StreamProtocolError("message_start carries no usage")
        elif kind == "content_block_start":
            open_index = event["index"]
        elif kind == "content_block_stop":
            open_index = None
        elif kind == "message_delta":
            if message_delta_seen:
                raise StreamProtocolError("second message_delta in one stream")
            message_delta_seen = True
            _check_message_delta(event, open_index)
        elif kind == "message_stop" and not message_delta_seen:
            raise StreamProtocolError("message_stop without a message_delta before it")
    if not message_start_seen:
        raise StreamProtocolError("the stream ended before message_start")
    if not accumulator.done:
        missing = "message_stop" if message_delta_seen else "message_delta and message_stop"
        raise StreamProtocolError(f"the stream ended before {missing}")
    return accumulator.message


def validate_anthropic_sse(raw: bytes) -> dict[str, Any]:
    """Check a raw Anthropic SSE body (framing included) and return the final message.

    On top of ``validate_anthropic_events``: every frame's data is a JSON object, and every frame
    has an ``event:`` line equal to that object's ``type`` (newer SDKs skip frames without one).
    """
    decoder = SSEDecoder()
    frames = decoder.feed(raw)
    frames += decoder.flush()
    events: list[dict[str, Any]] = []
    for number, frame in enumerate(frames):
        try:
            payload = frame.json()
        except orjson.JSONDecodeError:
            raise StreamProtocolError(f"frame {number}: data is not JSON: {frame.data[:200]!r}") from None
        if not isinstance(payload, dict):
            raise StreamProtocolError(f"frame {number}: data is not a JSON object: {frame.data[:200]!r}")
        if frame.event is None:
            raise StreamProtocolError(f"frame {number} ({payload.get('type')}) has no event: line")
        if frame.event != payload.get("type"):
            raise StreamProtocolError(
                f"frame {number}: event: line {frame.event!r} differs from the data's type "
                f"{payload.get('type')!r}"
            )
        events.append(payload)
    return validate_anthropic_events(events)


def _check_message_delta(event: dict[str, Any], open_index: int | None) -> None:
    if not isinstance(event.get("usage"), dict):
        raise StreamProtocolError("message_delta carries no usage")
    stop_reason = event["delta"].get("stop_reason")
    if open_index is not None and stop_reason != "max_tokens":
        raise StreamProtocolError(
            f"message_delta (stop_reason {stop_reason!r}) while content block {open_index} is still "
            "open; only a max_tokens cut may leave a block open"
        )
