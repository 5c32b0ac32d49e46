"""Prompt-caching breakpoints (``cache_control``), allowed on most blocks, tools and system text."""

from __future__ import annotations

from typing import Literal, TypeAlias

from claudegate.types._base import WireModel

__all__ = ["CacheControl", "CacheTTL"]

CacheTTL: TypeAlias = Literal["5m", "1h"] | str
"""How long a cache entry lives; the API knows ``5m`` (default) and ``1h``."""


class CacheControl(WireModel):
    """A cache breakpoint: ``{"type": "ephemeral", "ttl"?: "5m" | "1h"}``."""

    type: str = "ephemeral"
    ttl: CacheTTL | None = None
