"""Durable state (API keys, usage ledger) in SQLite or PostgreSQL, and shared counters."""

from __future__ import annotations

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
from claudegate.store._database import DEFAULT_DATABASE_URL, Database
from claudegate.store._keys import ApiKey, CreatedKey, KeyBudget, KeyLimits, KeyStore, hash_key
from claudegate.store._memory_counters import MemoryCounters
from claudegate.store._redis_counters import RedisCounters
from claudegate.store._usage import UsageLedger, UsageRecord, UsageTotals, UsageWriter, period_bounds

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Admission",
    "ApiKey",
    "Batch",
    "CircuitState",
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
    "Spend",
    "UsageLedger",
    "UsageRecord",
    "UsageTotals",
    "UsageWriter",
    "hash_key",
    "over_budget",
    "period_bounds",
    "sliding_window",
]
