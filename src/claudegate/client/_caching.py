"""Prompt-caching helpers: mark system, tools and message blocks with ``cache_control``, and
summarise what a response's usage says about the cache.

A cache breakpoint caches everything up to and including the marked block, in the API's order
tools → system → messages. At most four breakpoints are allowed per request.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from claudegate.errors import UserError

__all__ = ["CacheUsage", "cache_control", "cache_last_message", "cache_system", "cache_tools"]

CacheTTL = Literal["5m", "1h"]


def cache_control(ttl: CacheTTL = "5m") -> dict[str, str]:
    """The ``cache_control`` value for a breakpoint (5-minute default, or 1 hour)."""
    if ttl not in ("5m", "1h"):
        raise UserError("cache ttl must be '5m' or '1h'", field="cache_control.ttl")
    return {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral", "ttl": "1h"}


def cache_system(system: str | Sequence[Mapping[str, Any]], ttl: CacheTTL = "5m") -> list[dict[str, Any]]:
    """The system prompt as text blocks with a breakpoint on the last one.

    >>> client.messages.create(system=cache_system(LONG_PROMPT), ...)
    """
    blocks: list[dict[str, Any]] = (
        [{"type": "text", "text": system}] if isinstance(system, str) else [dict(b) for b in system]
    )
    if not blocks:
        raise UserError("cannot cache an empty system prompt", field="system")
    blocks[-1]["cache_control"] = cache_control(ttl)
    return blocks


def cache_tools(tools: Sequence[Mapping[str, Any]], ttl: CacheTTL = "5m") -> list[dict[str, Any]]:
    """The tools with a breakpoint on the last definition (which caches all of them)."""
    marked = [dict(t) for t in tools]
    if not marked:
        raise UserError("cannot cache an empty tool list", field="tools")
    marked[-1]["cache_control"] = cache_control(ttl)
    return marked


def cache_last_message(messages: Sequence[Mapping[str, Any]], ttl: CacheTTL = "5m") -> list[dict[str, Any]]:
    """The messages with a breakpoint on the last block of the last message (a growing chat's
    usual pattern: each turn reads the previous turn's cache and writes a longer one)."""
    marked = [dict(m) for m in messages]
    if not marked:
        raise UserError("cannot cache an empty message list", field="messages")
    last = marked[-1]
    content = last.get("content")
    if isinstance(content, str):
        blocks: list[dict[str, Any]] = [{"type": "text", "text": content}]
    elif isinstance(content, list) and content:
        blocks = copy.deepcopy(content)
    else:
        raise UserError(
            "the last message has no content to mark", field=f"messages[{len(marked) - 1}].content"
        )
    blocks[-1]["cache_control"] = cache_control(ttl)
    last["content"] = blocks
    return marked


def _get(usage: object, name: str) -> int:
    value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
    return value if isinstance(value, int) else 0


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """What one response's usage says about the cache (all in tokens)."""

    uncached_input: int
    cache_write: int
    cache_read: int
    output: int

    @classmethod
    def from_usage(cls, usage: object) -> CacheUsage:
        """From a ``Usage`` model or a usage dict."""
        return cls(
            uncached_input=_get(usage, "input_tokens"),
            cache_write=_get(usage, "cache_creation_input_tokens"),
            cache_read=_get(usage, "cache_read_input_tokens"),
            output=_get(usage, "output_tokens"),
        )

    @property
    def total_input(self) -> int:
        """All input tokens: uncached + written to cache + read from cache."""
        return self.uncached_input + self.cache_write + self.cache_read

    @property
    def hit_ratio(self) -> float:
        """Share of input tokens served from the cache."""
        return self.cache_read / self.total_input if self.total_input else 0.0

    def __str__(self) -> str:
        return (
            f"input {self.total_input} (uncached {self.uncached_input}, cache write {self.cache_write}, "
            f"cache read {self.cache_read}, hit {self.hit_ratio:.0%}), output {self.output}"
        )
