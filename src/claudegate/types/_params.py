"""The request body of ``POST /v1/messages`` and the messages it carries."""

from __future__ import annotations

from typing import Literal, TypeAlias

from claudegate.types._base import TextOrBlocks, WireModel
from claudegate.types._content import ContentBlockParam
from claudegate.types._text import TextBlock
from claudegate.types._thinking import ThinkingConfig
from claudegate.types._tools import ToolChoice, ToolParam

__all__ = ["MessageCreateParams", "MessageParam", "Metadata", "Role"]

Role: TypeAlias = Literal["user", "assistant"] | str
"""Who speaks a turn. Other values (a mid-conversation ``system`` turn, a beta) pass through."""


class MessageParam(WireModel):
    """One conversation turn: ``MessageParam(role="user", content="hi")``."""

    role: Role
    content: TextOrBlocks[ContentBlockParam]


class Metadata(WireModel):
    """Request metadata: an opaque ``user_id`` for abuse detection."""

    user_id: str | None = None


class MessageCreateParams(WireModel):
    """The body of ``POST /v1/messages``; fields this model does not name are kept and forwarded."""

    model: str
    max_tokens: int
    messages: list[MessageParam]
    system: TextOrBlocks[TextBlock] | None = None
    metadata: Metadata | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: int | float | None = None
    top_p: int | float | None = None
    top_k: int | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    service_tier: str | None = None
