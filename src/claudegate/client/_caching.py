"""Prompt-caching helpers: mark system, tools and message blocks with ``cache_control``, and
summarise what a response's usage says about the cache and what it saved against no cache.

A cache breakpoint caches everything up to and including the marked block, in the API's order
tools → system → messages. At most four breakpoints are allowed per request.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from claudegate.client._prices import PRICES, ModelPrice, TokenCounts, price_for_model
from claudegate.errors import UserError
from claudegate.types import Usage

__all__ = ["CacheSavings", "CacheUsage", "cache_control", "cache_last_message", "cache_system", "cache_tools"]

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


@dataclass(frozen=True, slots=True)
class CacheSavings:
    """What the cache saved on a call (or several), against the same tokens sent with no cache.

    Negative ``dollars_saved`` is a call that wrote more to the cache than it read back: cache
    writes are billed above the input price, and pay off only on later reads.
    """

    tokens_saved: int
    """Input tokens read from the cache instead of processed at the full input price."""
    cost: float
    """USD billed."""
    uncached_cost: float
    """USD the same call would cost with no cache: every input token at the input price."""

    @property
    def dollars_saved(self) -> float:
        """``uncached_cost - cost`` in USD."""
        return self.uncached_cost - self.cost

    @property
    def saved_fraction(self) -> float:
        """Share of the uncached cost that was saved."""
        return self.dollars_saved / self.uncached_cost if self.uncached_cost else 0.0


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """What one response's usage says about the cache (all in tokens).

    >>> cache = CacheUsage.from_usage(message.usage)
    >>> cache.hit_ratio, cache.savings(message.model).dollars_saved
    """

    uncached_input: int
    cache_write: int
    cache_read: int
    output: int
    cache_write_1h: int = 0
    """The part of ``cache_write`` written with the 1-hour lifetime (the rest is 5-minute)."""

    @classmethod
    def from_usage(cls, usage: Mapping[str, Any] | Usage) -> CacheUsage:
        """From the client's ``Usage`` model or the API's usage dict."""
        counts = TokenCounts.of(usage)
        return cls(
            uncached_input=counts.input,
            cache_write=counts.cache_write_5m + counts.cache_write_1h,
            cache_read=counts.cache_read,
            output=counts.output,
            cache_write_1h=counts.cache_write_1h,
        )

    def __add__(self, other: CacheUsage) -> CacheUsage:
        """Usage of two calls together (sum a conversation's turns)."""
        return CacheUsage(
            self.uncached_input + other.uncached_input,
            self.cache_write + other.cache_write,
            self.cache_read + other.cache_read,
            self.output + other.output,
            self.cache_write_1h + other.cache_write_1h,
        )

    @property
    def total_input(self) -> int:
        """All input tokens: uncached + written to cache + read from cache."""
        return self.uncached_input + self.cache_write + self.cache_read

    @property
    def hit_ratio(self) -> float:
        """Share of input tokens served from the cache."""
        return self.cache_read / self.total_input if self.total_input else 0.0

    @property
    def tokens_saved(self) -> int:
        """Input tokens read from the cache instead of processed at the full input price."""
        return self.cache_read

    def savings(self, price: ModelPrice | str, prices: Mapping[str, ModelPrice] = PRICES) -> CacheSavings:
        """Tokens and USD saved against the same call with no cache, at ``price`` (a ``ModelPrice``,
        or a model id looked up in ``prices``: reads at the cache-read price, writes at the 5-minute
        or 1-hour write price)."""
        if isinstance(price, str):
            found = price_for_model(price, prices)
            if found is None:
                raise UserError(f"no price for model {price!r}: pass a ModelPrice", field="model")
            price = found
        counts = TokenCounts(
            self.uncached_input,
            self.output,
            self.cache_read,
            self.cache_write - self.cache_write_1h,
            self.cache_write_1h,
        )
        uncached = TokenCounts(self.total_input, self.output, 0, 0, 0)
        return CacheSavings(self.cache_read, counts.cost(price), uncached.cost(price))

    def __str__(self) -> str:
        return (
            f"input {self.total_input} (uncached {self.uncached_input}, cache write {self.cache_write}, "
            f"cache read {self.cache_read}, hit {self.hit_ratio:.0%}), output {self.output}"
        )
