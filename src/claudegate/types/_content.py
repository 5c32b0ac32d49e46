"""The content-block unions: what a response may contain, and what a request message may contain."""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from pydantic import Tag, TypeAdapter

from claudegate.types._base import UNKNOWN, UnknownContentBlock, type_discriminator
from claudegate.types._documents import DocumentBlock, SearchResultBlock
from claudegate.types._images import ImageBlock
from claudegate.types._text import TextBlock
from claudegate.types._thinking import RedactedThinkingBlock, ThinkingBlock
from claudegate.types._tool_blocks import (
    ServerToolResultBlock,
    ServerToolUseBlock,
    ToolResultBlock,
    ToolUseBlock,
    WebSearchToolResultBlock,
)

__all__ = ["ContentBlock", "ContentBlockParam", "parse_content_block"]

_SERVER_TOOL_RESULT = "server_tool_result"


def _server_tool_result(tag: str, value: Any) -> str | None:
    # Every server tool answers with a ``<tool>_tool_result`` block carrying ``tool_use_id``; those
    # claudegate has no dedicated model for are still typed enough to pair them with their call.
    if not tag.endswith("_tool_result"):
        return None
    if isinstance(value, dict):
        present = "tool_use_id" in value
    else:
        present = isinstance(value, ServerToolResultBlock)
    return _SERVER_TOOL_RESULT if present else None


ContentBlock: TypeAlias = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[RedactedThinkingBlock, Tag("redacted_thinking")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ServerToolUseBlock, Tag("server_tool_use")]
    | Annotated[WebSearchToolResultBlock, Tag("web_search_tool_result")]
    | Annotated[ServerToolResultBlock, Tag(_SERVER_TOOL_RESULT)]
    | Annotated[UnknownContentBlock, Tag(UNKNOWN)],
    type_discriminator(
        "text",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "server_tool_use",
        "web_search_tool_result",
        fallback=_server_tool_result,
    ),
]
"""A block of a response ``Message`` (or a stream's ``content_block_start``).

Other server tools' ``*_tool_result`` blocks parse as ``ServerToolResultBlock``; any other unknown
type parses as ``UnknownContentBlock``.
"""

ContentBlockParam: TypeAlias = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[DocumentBlock, Tag("document")]
    | Annotated[SearchResultBlock, Tag("search_result")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[RedactedThinkingBlock, Tag("redacted_thinking")]
    | Annotated[ServerToolUseBlock, Tag("server_tool_use")]
    | Annotated[WebSearchToolResultBlock, Tag("web_search_tool_result")]
    | Annotated[ServerToolResultBlock, Tag(_SERVER_TOOL_RESULT)]
    | Annotated[UnknownContentBlock, Tag(UNKNOWN)],
    type_discriminator(
        "text",
        "image",
        "document",
        "search_result",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        fallback=_server_tool_result,
    ),
]
"""A block of a request message: everything a response may hold, plus what callers send."""

_CONTENT_BLOCK: TypeAdapter[ContentBlock] = TypeAdapter(ContentBlock)


def parse_content_block(obj: dict[str, Any]) -> ContentBlock:
    """Parse one decoded response content block into its model; unknown types never fail.

    >>> parse_content_block({"type": "text", "text": "hi"}).to_dict()
    {'type': 'text', 'text': 'hi'}
    """
    return _CONTENT_BLOCK.validate_python(obj)
