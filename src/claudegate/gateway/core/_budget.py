"""Spend caps per key and UTC day or month, priced from the client's price table.

A request is refused (429) once the key's spend for the day or the month has reached its cap; the
request that crosses the cap still completes, since its cost is only known afterwards. The cost of
each answer is sent as ``x-claudegate-cost-usd``: the real cost for JSON answers, and for streams
(whose headers leave before any usage is known) the upper-bound estimate at admission; the ledger
always records the real cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from claudegate.client._prices import cost_of_usage, price_for_model
from claudegate.gateway.core._errors import GatewayError
from claudegate.store import Counters, Spend

if TYPE_CHECKING:
    from claudegate.store import KeyBudget

__all__ = ["COST_HEADER", "Budgets", "budget_refusal", "estimated_cost", "usage_cost"]

COST_HEADER = "x-claudegate-cost-usd"


def usage_cost(model: str, usage: Mapping[str, Any]) -> float:
    """The USD cost of ``usage`` for ``model`` (0 for a model missing from the price table)."""
    price = price_for_model(model)
    return 0.0 if price is None else cost_of_usage(usage, price)


def estimated_cost(model: str, input_tokens: int, output_tokens: int) -> float:
    """The most a request could cost: its estimated input, and every token ``max_tokens`` allows."""
    return usage_cost(model, {"input_tokens": input_tokens, "output_tokens": output_tokens})


def budget_refusal(spent: Spend, day_cap: float | None, month_cap: float | None) -> GatewayError | None:
    """The 429 for a key whose day or month spend has reached its cap, else ``None``."""
    for period, cap, used in (("daily", day_cap, spent.day), ("monthly", month_cap, spent.month)):
        if cap is not None and used >= cap:
            return GatewayError(
                429,
                "rate_limit_error",
                f"budget exhausted: this key spent ${used:.4f} of its {period} budget of ${cap:.2f}",
                headers={"retry-after": "3600"},
            )
    return None


class Budgets:
    """Checks and records spend in the shared ``Counters`` (one total per key, day and month)."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    async def check(self, key_id: str, budget: KeyBudget) -> None:
        """Raise a 429 when the key has spent its daily or monthly cap."""
        if budget.cost_per_day is None and budget.cost_per_month is None:
            return
        refusal = budget_refusal(
            await self.counters.spend(key_id), budget.cost_per_day, budget.cost_per_month
        )
        if refusal is not None:
            raise refusal

    async def record(self, key_id: str, cost: float) -> None:
        """Add a finished request's cost to the key's totals."""
        if cost > 0:
            await self.counters.add_spend(key_id, cost)
