"""Token usage as the API reports it, in responses and (cumulatively) in ``message_delta``."""

from __future__ import annotations

from claudegate.types._base import WireModel

__all__ = ["CacheCreation", "MessageDeltaUsage", "ServerToolUsage", "Usage"]


class CacheCreation(WireModel):
    """Cache-write tokens split by entry lifetime."""

    ephemeral_5m_input_tokens: int | None = None
    ephemeral_1h_input_tokens: int | None = None


class ServerToolUsage(WireModel):
    """How many server-tool requests a message made (new tools add their own counters)."""

    web_search_requests: int | None = None


class Usage(WireModel):
    """A message's usage: ``input_tokens`` excludes cached tokens, which are counted apart.

    Total input is ``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``.
    """

    input_tokens: int
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: CacheCreation | None = None
    output_tokens: int
    server_tool_use: ServerToolUsage | None = None
    service_tier: str | None = None

    @property
    def total_input_tokens(self) -> int:
        """All input tokens: uncached, written to the cache, and read from it."""
        return (
            self.input_tokens + (self.cache_creation_input_tokens or 0) + (self.cache_read_input_tokens or 0)
        )


class MessageDeltaUsage(WireModel):
    """Usage in a ``message_delta`` event: cumulative totals so far, not increments."""

    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens: int
    server_tool_use: ServerToolUsage | None = None
