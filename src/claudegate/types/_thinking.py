"""Extended thinking: the blocks the model thinks in, and the request switch that enables it."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import Tag

from claudegate.types._base import UNKNOWN, UnknownObject, WireModel, type_discriminator

__all__ = [
    "RedactedThinkingBlock",
    "ThinkingBlock",
    "ThinkingConfig",
    "ThinkingConfigAdaptive",
    "ThinkingConfigDisabled",
    "ThinkingConfigEnabled",
    "UnknownThinkingConfig",
]


class ThinkingBlock(WireModel):
    """The model's visible reasoning; ``signature`` must be sent back unchanged in later turns."""

    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str


class RedactedThinkingBlock(WireModel):
    """Reasoning the API encrypted; ``data`` must be sent back unchanged in later turns."""

    type: Literal["redacted_thinking"] = "redacted_thinking"
    data: str


class ThinkingConfigEnabled(WireModel):
    """Thinking on, with a token budget: ``{"type": "enabled", "budget_tokens": n}``."""

    type: Literal["enabled"] = "enabled"
    budget_tokens: int


class ThinkingConfigDisabled(WireModel):
    """Thinking off: ``{"type": "disabled"}``."""

    type: Literal["disabled"] = "disabled"


class ThinkingConfigAdaptive(WireModel):
    """The model decides how much to think: ``{"type": "adaptive"}``."""

    type: Literal["adaptive"] = "adaptive"


class UnknownThinkingConfig(UnknownObject):
    """A thinking mode claudegate does not know, kept whole."""


ThinkingConfig: TypeAlias = Annotated[
    Annotated[ThinkingConfigEnabled, Tag("enabled")]
    | Annotated[ThinkingConfigDisabled, Tag("disabled")]
    | Annotated[ThinkingConfigAdaptive, Tag("adaptive")]
    | Annotated[UnknownThinkingConfig, Tag(UNKNOWN)],
    type_discriminator("enabled", "disabled", "adaptive"),
]
"""A request's ``thinking``; unknown modes parse as ``UnknownThinkingConfig``."""
