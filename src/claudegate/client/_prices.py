"""List prices of Claude models, and the cost of one call's usage.

Prices are USD per million tokens, standard (non-batch) API rates, as published on Anthropic's
pricing page (https://platform.claude.com/docs/en/about-claude/pricing) and the model overview
pages (https://platform.claude.com/docs/en/models/opus-5-5/overview and siblings), read on
2026-11-21. Where the pricing page lists only input and output for a model (Sonnet 5), the
cache prices follow the page's published multipliers: 5-minute cache write 1.25×, 1-hour cache
write 2×, cache read 0.1× the base input price. Prices change: pass your own table to
``QuotaManager(prices=...)`` rather than editing this one.

Usage maps to prices as the API reports it: ``input_tokens`` (uncached input), ``output_tokens``,
``cache_read_input_tokens``, and ``cache_creation_input_tokens`` split by
``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` when present
(all of it priced as 5-minute writes otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claudegate.types import Usage

__all__ = ["PRICES", "ModelPrice", "cost_of_usage", "price_for_model"]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices in USD per million tokens."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


def _standard(input_price: float, output_price: float) -> ModelPrice:
    """Prices from the published cache multipliers (1.25×, 2×, 0.1× of input)."""
    return ModelPrice(input_price, output_price, input_price * 1.25, input_price * 2.0, input_price * 0.1)


_OPUS_45_TO_5 = ModelPrice(5.0, 25.0, 6.25, 10.0, 0.50)
_SONNET_4 = ModelPrice(3.0, 15.0, 3.75, 6.0, 0.30)

PRICES: Mapping[str, ModelPrice] = {
    "claude-opus-5-5": ModelPrice(4.0, 20.0, 5.0, 8.0, 0.20),
    "claude-opus-5": _OPUS_45_TO_5,
    "claude-opus-4-8": _OPUS_45_TO_5,
    "claude-opus-4-7": _OPUS_45_TO_5,
    "claude-opus-4-6": _OPUS_45_TO_5,
    "claude-opus-4-5": _OPUS_45_TO_5,
    "claude-opus-4-1": ModelPrice(15.0, 75.0, 18.75, 30.0, 1.50),
    "claude-opus-4": ModelPrice(15.0, 75.0, 18.75, 30.0, 1.50),
    "claude-sonnet-5": _standard(2.0, 10.0),
    "claude-sonnet-4-6": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-sonnet-4": _SONNET_4,
    "claude-haiku-4-5": ModelPrice(1.0, 5.0, 1.25, 2.0, 0.10),
    "claude-3-5-haiku": ModelPrice(0.80, 4.0, 1.0, 1.6, 0.08),
    "claude-3-haiku": ModelPrice(0.25, 1.25, 0.30, 0.50, 0.03),
}
"""Prices by model family id (dated snapshots such as ``claude-sonnet-4-5-20250929`` map here)."""

_SNAPSHOT_SUFFIX = re.compile(r"-(\d{8}|latest)$")


def price_for_model(model: str, prices: Mapping[str, ModelPrice] = PRICES) -> ModelPrice | None:
    """The price of ``model``: an exact id first, then the id without its date suffix."""
    found = prices.get(model)
    if found is None:
        found = prices.get(_SNAPSHOT_SUFFIX.sub("", model))
    return found


def _tokens(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) else 0


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """One call's billed tokens by kind, however its usage was given."""

    input: int
    output: int
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int

    @classmethod
    def of(cls, usage: Mapping[str, Any] | Usage) -> TokenCounts:
        """From the API's usage object as a dict, or the client's typed ``Usage``."""
        if isinstance(usage, Mapping):
            written = _tokens(usage, "cache_creation_input_tokens")
            split = usage.get("cache_creation")
            written_1h = _tokens(split, "ephemeral_1h_input_tokens") if isinstance(split, Mapping) else 0
            return cls(
                _tokens(usage, "input_tokens"),
                _tokens(usage, "output_tokens"),
                _tokens(usage, "cache_read_input_tokens"),
                written - written_1h,
                written_1h,
            )
        written = usage.cache_creation_input_tokens or 0
        written_1h = (usage.cache_creation.ephemeral_1h_input_tokens or 0) if usage.cache_creation else 0
        return cls(
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_input_tokens or 0,
            written - written_1h,
            written_1h,
        )

    def cost(self, price: ModelPrice) -> float:
        """USD at ``price``."""
        total = (
            self.input * price.input
            + self.output * price.output
            + self.cache_read * price.cache_read
            + self.cache_write_5m * price.cache_write_5m
            + self.cache_write_1h * price.cache_write_1h
        )
        return total / 1_000_000


def cost_of_usage(usage: Mapping[str, Any] | Usage, price: ModelPrice) -> float:
    """USD cost of one call's ``usage`` at ``price``: the API's usage object as a dict, or the
    client's typed ``Usage`` (``message.usage``).

    >>> cost_of_usage(message.usage, price_for_model(message.model))
    """
    return TokenCounts.of(usage).cost(price)
