"""Token counting: ``POST /v1/messages/count_tokens`` and its answer."""

from __future__ import annotations

from claudegate.types._base import TextOrBlocks, WireModel
from claudegate.types._params import MessageParam
from claudegate.types._text import TextBlock
from claudegate.types._thinking import ThinkingConfig
from claudegate.types._tools import ToolChoice, ToolParam

__all__ = ["CountTokensParams", "MessageTokensCount"]


class CountTokensParams(WireModel):
    """The body of ``POST /v1/messages/count_tokens``: a request without generation settings."""

    model: str
    messages: list[MessageParam]
    system: TextOrBlocks[TextBlock] | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None


class MessageTokensCount(WireModel):
    """How many input tokens a request would use: ``{"input_tokens": n}``."""

    input_tokens: int
