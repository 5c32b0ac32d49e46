"""Durable state (API keys, usage ledger) in SQLite or PostgreSQL, and shared counters."""

from __future__ import annotations

from claudegate.store._database import DEFAULT_DATABASE_URL, Database
from claudegate.store._keys import ApiKey, CreatedKey, KeyBudget, KeyLimits, KeyStore, hash_key
from claudegate.store._usage import UsageLedger, UsageRecord, UsageTotals, UsageWriter, period_bounds

__all__ = [
    "DEFAULT_DATABASE_URL",
    "ApiKey",
    "CreatedKey",
    "Database",
    "KeyBudget",
    "KeyLimits",
    "KeyStore",
    "UsageLedger",
    "UsageRecord",
    "UsageTotals",
    "UsageWriter",
    "hash_key",
    "period_bounds",
]
