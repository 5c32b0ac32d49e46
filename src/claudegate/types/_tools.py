"""Tool definitions a request offers the model, and how the model may choose among them."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Discriminator, Tag

from claudegate.types._base import UNKNOWN, UnknownObject, WireModel, type_discriminator
from claudegate.types._cache_control import CacheControl

__all__ = [
    "ServerTool",
    "Tool",
    "ToolChoice",
    "ToolChoiceAny",
    "ToolChoiceAuto",
    "ToolChoiceNone",
    "ToolChoiceTool",
    "ToolParam",
    "UnknownToolChoice",
]


class Tool(WireModel):
    """A client tool the caller runs: ``Tool(name="get_weather", input_schema={"type": "object"})``.

    ``type`` is absent on the wire unless given (``"custom"`` is the only value the API accepts).
    """

    type: Literal["custom"] | None = None
    name: str
    description: str | None = None
    input_schema: dict[str, Any]
    cache_control: CacheControl | None = None


class ServerTool(WireModel):
    """A tool the API defines by versioned ``type`` (``web_search_20250305``, ``bash_20250124``, …).

    Its own settings (``max_uses``, ``allowed_domains``, ``display_width_px``, …) are kept as given.
    """

    type: str
    name: str
    cache_control: CacheControl | None = None


def _tool_tag(value: Any) -> str:
    tag = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    # A custom tool may omit ``type``; every other tool is named by its versioned type.
    return "custom" if tag is None or tag == "custom" else "server"


ToolParam: TypeAlias = Annotated[
    Annotated[Tool, Tag("custom")] | Annotated[ServerTool, Tag("server")],
    Discriminator(_tool_tag),
]
"""An entry of a request's ``tools``: a custom ``Tool`` or a ``ServerTool``."""


class ToolChoiceAuto(WireModel):
    """The model decides whether to call a tool."""

    type: Literal["auto"] = "auto"
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(WireModel):
    """The model must call some tool."""

    type: Literal["any"] = "any"
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(WireModel):
    """The model must call the tool ``name``."""

    type: Literal["tool"] = "tool"
    name: str
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(WireModel):
    """The model must not call any tool."""

    type: Literal["none"] = "none"
    disable_parallel_tool_use: bool | None = None


class UnknownToolChoice(UnknownObject):
    """A tool-choice mode claudegate does not know, kept whole."""


ToolChoice: TypeAlias = Annotated[
    Annotated[ToolChoiceAuto, Tag("auto")]
    | Annotated[ToolChoiceAny, Tag("any")]
    | Annotated[ToolChoiceTool, Tag("tool")]
    | Annotated[ToolChoiceNone, Tag("none")]
    | Annotated[UnknownToolChoice, Tag(UNKNOWN)],
    type_discriminator("auto", "any", "tool", "none"),
]
"""A request's ``tool_choice``; unknown modes parse as ``UnknownToolChoice``."""
