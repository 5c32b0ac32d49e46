"""The response message and why it stopped."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeAlias

from claudegate.types._base import WireModel
from claudegate.types._content import ContentBlock
from claudegate.types._usage import Usage

__all__ = ["Message", "StopReason", "parse_message"]

StopReason: TypeAlias = (
    Literal[
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
    ]
    | str
)
"""Why the model stopped. Values newer than this list still parse (as plain strings)."""


class Message(WireModel):
    """A response from the Messages API (also the ``message`` of a stream's ``message_start``).

    Built by hand, it carries ``type``, ``role``, ``stop_reason`` and ``stop_sequence`` even when
    not given, because the wire always does.
    """

    _sent_nulls: ClassVar[tuple[str, ...]] = ("stop_reason", "stop_sequence")

    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentBlock]
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage


def parse_message(obj: dict[str, Any]) -> Message:
    """Parse one decoded response body into a ``Message``; unknown blocks and fields are kept."""
    return Message.model_validate(obj)
