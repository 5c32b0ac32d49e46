"""The text block: plain text, optionally with citations and a cache breakpoint."""

from __future__ import annotations

from typing import Literal

from claudegate.types._base import WireModel
from claudegate.types._cache_control import CacheControl
from claudegate.types._citations import Citation

__all__ = ["TextBlock"]


class TextBlock(WireModel):
    """A text block, in requests and responses: ``TextBlock(text="hi")``."""

    type: Literal["text"] = "text"
    text: str
    citations: list[Citation] | None = None
    cache_control: CacheControl | None = None
