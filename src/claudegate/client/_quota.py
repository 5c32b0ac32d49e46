"""Local usage quotas: daily and monthly limits on requests, tokens and cost, overall or per model.

A call is checked **before** it is sent (``check``) and its usage recorded **after** the answer
(``record``). Periods are UTC calendar days and months; a new period starts from zero. Tokens
count everything billed: input, output, cache writes and cache reads. Cost comes from the price
table (``_prices``); a model missing from it counts zero cost (and is logged once).

Before sending, only estimates exist: one request, the estimated input tokens, and their cost at
the input price. A call is refused when a counter has reached its limit or its estimate would
take the counter past it, so a budget is never overshot by more than one call's output. State
survives restarts through ``to_json`` / ``load_json``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from claudegate.client._prices import PRICES, ModelPrice, cost_of_usage, price_for_model
from claudegate.errors import QuotaExceededError, UserError

__all__ = ["QuotaLimit", "QuotaManager", "QuotaMetric", "QuotaPeriod"]

log = logging.getLogger("claudegate.client.quota")

QuotaMetric = Literal["requests", "tokens", "cost"]
QuotaPeriod = Literal["day", "month"]
_METRICS: tuple[QuotaMetric, ...] = ("requests", "tokens", "cost")
_PERIODS: tuple[QuotaPeriod, ...] = ("day", "month")


@dataclass(frozen=True, slots=True)
class QuotaLimit:
    """At most ``limit`` of ``metric`` per ``period``, for ``model`` (None: all models together).

    >>> QuotaLimit("cost", "month", 50.0)                      # USD 50 a month overall
    >>> QuotaLimit("requests", "day", 1000, model="claude-opus-5")
    """

    metric: QuotaMetric
    period: QuotaPeriod
    limit: float
    model: str | None = None

    def __post_init__(self) -> None:
        if self.metric not in _METRICS or self.period not in _PERIODS:
            raise UserError(f"unknown quota {self.metric!r} per {self.period!r}", field="metric")
        if self.limit < 0:
            raise UserError("a quota limit must be >= 0", field="limit")

    @property
    def name(self) -> str:
        """A stable name such as ``day.requests`` or ``month.cost[claude-opus-5]``."""
        return f"{self.period}.{self.metric}" + (f"[{self.model}]" if self.model else "")


def _empty() -> dict[str, float]:
    return dict.fromkeys(_METRICS, 0.0)


class QuotaManager:
    """Refuse calls that would pass a limit; count what calls used.

    >>> quota = QuotaManager([QuotaLimit("cost", "day", 5.0)])
    >>> quota.check("claude-sonnet-5", estimated_tokens=1200)   # raises QuotaExceededError
    >>> quota.record("claude-sonnet-5", message.usage.model_dump())
    """

    def __init__(
        self,
        limits: Sequence[QuotaLimit],
        *,
        prices: Mapping[str, ModelPrice] = PRICES,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.limits = tuple(limits)
        self.prices = prices
        self._now = now
        self._lock = threading.Lock()
        # period key ("day:2026-11-21" / "month:2026-11") -> model -> metric -> amount
        self._counters: dict[str, dict[str, dict[str, float]]] = {}
        self._unpriced: set[str] = set()

    def _keys(self) -> dict[QuotaPeriod, str]:
        moment = self._now().astimezone(UTC)
        return {"day": f"day:{moment:%Y-%m-%d}", "month": f"month:{moment:%Y-%m}"}

    def _used(self, key: str, model: str | None) -> dict[str, float]:
        models = self._counters.get(key, {})
        if model is not None:
            return dict(models.get(model, _empty()))
        total = _empty()
        for counts in models.values():
            for metric in _METRICS:
                total[metric] += counts[metric]
        return total

    def _price(self, model: str) -> ModelPrice | None:
        price = price_for_model(model, self.prices)
        if price is None and model not in self._unpriced:
            self._unpriced.add(model)
            log.warning("no price for model %r: its calls count zero cost", model)
        return price

    def check(self, model: str, *, estimated_tokens: int = 0) -> None:
        """Raise ``QuotaExceededError`` (``quota`` names the limit) if this call would pass a limit."""
        price = self._price(model)
        estimate = {
            "requests": 1.0,
            "tokens": float(estimated_tokens),
            "cost": estimated_tokens * price.input / 1_000_000 if price else 0.0,
        }
        with self._lock:
            keys = self._keys()
            for limit in self.limits:
                if limit.model is not None and limit.model != model:
                    continue
                used = self._used(keys[limit.period], limit.model)[limit.metric]
                if used >= limit.limit or used + estimate[limit.metric] > limit.limit:
                    raise QuotaExceededError(
                        f"quota {limit.name} would be exceeded: {used:g} used of {limit.limit:g}",
                        quota=limit.name,
                    )

    def record(self, model: str, usage: Mapping[str, Any] | None = None) -> float:
        """Count one call to ``model`` and what its ``usage`` (the API's usage object) says; return
        its cost in USD."""
        usage = usage or {}
        tokens = sum(
            value
            for key in (
                "input_tokens",
                "output_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
            )
            if isinstance(value := usage.get(key), int)
        )
        price = self._price(model)
        cost = cost_of_usage(usage, price) if price is not None else 0.0
        with self._lock:
            keys = self._keys()
            current = set(keys.values())
            for stale in [k for k in self._counters if k not in current]:
                del self._counters[stale]
            for key in current:
                counts = self._counters.setdefault(key, {}).setdefault(model, _empty())
                counts["requests"] += 1
                counts["tokens"] += tokens
                counts["cost"] += cost
        return cost

    def usage(self, period: QuotaPeriod = "day", model: str | None = None) -> dict[str, float]:
        """Requests, tokens and cost used in the current ``period`` (by ``model``, or all)."""
        with self._lock:
            return self._used(self._keys()[period], model)

    def remaining(self) -> dict[str, float]:
        """What each limit has left in its current period, by limit name."""
        with self._lock:
            keys = self._keys()
            return {
                limit.name: max(0.0, limit.limit - self._used(keys[limit.period], limit.model)[limit.metric])
                for limit in self.limits
            }

    def to_json(self) -> bytes:
        """The counters as JSON, to save and restore across restarts."""
        with self._lock:
            return orjson.dumps({"version": 1, "counters": self._counters})

    def load_json(self, data: bytes | str) -> None:
        """Replace the counters with ones saved by ``to_json`` (periods that are over are dropped)."""
        try:
            decoded = orjson.loads(data)
            counters = decoded["counters"]
            restored = {
                str(key): {
                    str(model): {str(metric): float(counts.get(metric, 0.0)) for metric in _METRICS}
                    for model, counts in models.items()
                }
                for key, models in counters.items()
            }
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise UserError(f"not a saved quota state: {exc}", field="data") from exc
        with self._lock:
            current = set(self._keys().values())
            self._counters = {k: v for k, v in restored.items() if k in current}
