"""Tool calls and their results: client tools (tool_use/tool_result) and server tools."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Discriminator, Tag

from claudegate.types._base import UNKNOWN, TextOrBlocks, UnknownContentBlock, WireModel, type_discriminator
from claudegate.types._cache_control import CacheControl
from claudegate.types._documents import DocumentBlock, SearchResultBlock
from claudegate.types._images import ImageBlock
from claudegate.types._text import TextBlock

__all__ = [
    "ServerToolResultBlock",
    "ServerToolUseBlock",
    "ToolResultBlock",
    "ToolResultContentBlock",
    "ToolUseBlock",
    "WebSearchResult",
    "WebSearchResultEntry",
    "WebSearchToolResultBlock",
    "WebSearchToolResultError",
    "WebSearchToolResultErrorContent",
]


class ToolUseBlock(WireModel):
    """The model calls a client tool: run ``name`` with ``input`` and answer with a ``tool_result``."""

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]
    cache_control: CacheControl | None = None


ToolResultContentBlock: TypeAlias = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[SearchResultBlock, Tag("search_result")]
    | Annotated[DocumentBlock, Tag("document")]
    | Annotated[UnknownContentBlock, Tag(UNKNOWN)],
    type_discriminator("text", "image", "search_result", "document"),
]
"""A block inside a ``tool_result``."""


class ToolResultBlock(WireModel):
    """The caller's answer to a ``tool_use`` (in a user turn); ``is_error`` marks a failed call."""

    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: TextOrBlocks[ToolResultContentBlock] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


class ServerToolUseBlock(WireModel):
    """The model calls a tool the API runs itself (``web_search``, ``web_fetch``, code execution)."""

    type: Literal["server_tool_use"] = "server_tool_use"
    id: str
    name: str
    input: dict[str, Any]
    cache_control: CacheControl | None = None


class WebSearchResult(WireModel):
    """One page found by the web search tool; ``encrypted_content`` must be sent back unchanged."""

    type: Literal["web_search_result"] = "web_search_result"
    title: str
    url: str
    encrypted_content: str
    page_age: str | None = None


WebSearchResultEntry: TypeAlias = Annotated[
    Annotated[WebSearchResult, Tag("web_search_result")] | Annotated[UnknownContentBlock, Tag(UNKNOWN)],
    type_discriminator("web_search_result"),
]
"""An item of a successful web search's ``content`` list."""


class WebSearchToolResultError(WireModel):
    """A failed web search: ``error_code`` such as ``max_uses_exceeded`` or ``too_many_requests``."""

    type: Literal["web_search_tool_result_error"] = "web_search_tool_result_error"
    error_code: str


WebSearchToolResultErrorContent: TypeAlias = Annotated[
    Annotated[WebSearchToolResultError, Tag("web_search_tool_result_error")]
    | Annotated[UnknownContentBlock, Tag(UNKNOWN)],
    type_discriminator("web_search_tool_result_error"),
]
"""A web search result's ``content`` when it is an object (an error) rather than a list."""


def _results_or_error(value: Any) -> str | None:
    if isinstance(value, list):
        return "results"
    return None if isinstance(value, str) else "error"


class WebSearchToolResultBlock(WireModel):
    """What the web search server tool found: a list of results, or an error object."""

    type: Literal["web_search_tool_result"] = "web_search_tool_result"
    tool_use_id: str
    content: Annotated[
        Annotated[list[WebSearchResultEntry], Tag("results")]
        | Annotated[WebSearchToolResultErrorContent, Tag("error")],
        Discriminator(_results_or_error),
    ]
    cache_control: CacheControl | None = None


class ServerToolResultBlock(WireModel):
    """The result of any other server tool (``web_fetch_tool_result``, ``code_execution_tool_result``…).

    Kept generically: ``type`` names the tool, ``content`` is kept exactly as sent.
    """

    type: str
    tool_use_id: str
    content: Any = None
    cache_control: CacheControl | None = None
