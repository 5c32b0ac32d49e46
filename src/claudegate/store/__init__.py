"""Durable state (API keys, usage ledger, message threads, stored responses) in SQLite or
PostgreSQL, and shared counters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claudegate.store._counters import (
    Admission,
    Batch,
    CircuitState,
    CounterHealth,
    Counters,
    FailurePolicy,
    RateLimit,
    Spend,
    over_budget,
    sliding_window,
)
from claudegate.store._memory_counters import MemoryCounters

if TYPE_CHECKING:
    from claudegate.store._database import DEFAULT_DATABASE_URL, Database
    from claudegate.store._keys import ApiKey, CreatedKey, KeyBudget, KeyLimits, KeyStore, hash_key
    from claudegate.store._redis_counters import RedisCounters
    from claudegate.store._responses import ResponseStore, StoredResponse
    from claudegate.store._threads import ClaimRefusal, StoredThread, ThreadEntry, ThreadStore
    from claudegate.store._usage import (
        UsageLedger,
        UsageRecord,
        UsageTotals,
        UsageWriter,
        period_bounds,
        write_usage,
    )
    from claudegate.store._usage_rollup import ensure_rollups

# The SQL and Redis layers load on first use, so that code needing only the counter types (the
# gateway without storage configured) starts without SQLAlchemy or redis.
_LAZY = {
    "DEFAULT_DATABASE_URL": "_database",
    "Database": "_database",
    "ApiKey": "_keys",
    "CreatedKey": "_keys",
    "KeyBudget": "_keys",
    "KeyLimits": "_keys",
    "KeyStore": "_keys",
    "hash_key": "_keys",
    "RedisCounters": "_redis_counters",
    "ClaimRefusal": "_threads",
    "StoredThread": "_threads",
    "ThreadEntry": "_threads",
    "ThreadStore": "_threads",
    "ResponseStore": "_responses",
    "StoredResponse": "_responses",
    "UsageLedger": "_usage",
    "UsageRecord": "_usage",
    "UsageTotals": "_usage",
    "UsageWriter": "_usage",
    "period_bounds": "_usage",
    "write_usage": "_usage",
    "ensure_rollups": "_usage_rollup",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'claudegate.store' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"claudegate.store.{module}"), name)
    globals()[name] = value  # looked up here once: imports inside hot functions ask again and again
    return value


__all__ = [
    "DEFAULT_DATABASE_URL",
    "Admission",
    "ApiKey",
    "Batch",
    "CircuitState",
    "ClaimRefusal",
    "CounterHealth",
    "Counters",
    "CreatedKey",
    "Database",
    "FailurePolicy",
    "KeyBudget",
    "KeyLimits",
    "KeyStore",
    "MemoryCounters",
    "RateLimit",
    "RedisCounters",
    "ResponseStore",
    "Spend",
    "StoredResponse",
    "StoredThread",
    "ThreadEntry",
    "ThreadStore",
    "UsageLedger",
    "UsageRecord",
    "UsageTotals",
    "UsageWriter",
    "ensure_rollups",
    "hash_key",
    "over_budget",
    "period_bounds",
    "sliding_window",
    "write_usage",
]
