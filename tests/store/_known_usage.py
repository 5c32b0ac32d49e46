"""A small ledger with known totals, for the usage report tests of the store and the gateway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from claudegate.store import UsageRecord

__all__ = ["T0", "known_ledger"]

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def known_ledger() -> list[UsageRecord]:
    """Eight calls over two days: two keys, two models, two deployments, an error, a JWT caller."""

    def row(number: int, at: timedelta, **fields: Any) -> UsageRecord:
        base: dict[str, Any] = {
            "request_id": f"req_{number}",
            "key_id": "key_a",
            "model": "claude-sonnet-4-5",
            "deployment": "primary",
            "input_tokens": 100,
            "output_tokens": 10,
            "cost": 0.5,
            "latency_ms": 100.0,
            "time": T0 + at,
        }
        return UsageRecord(**{**base, **fields})

    return [
        row(1, timedelta(minutes=5)),
        row(2, timedelta(minutes=5, seconds=30), output_tokens=20, latency_ms=300.0),
        row(3, timedelta(hours=1, minutes=10), model="claude-haiku-4-5", cost=0.25, dialect="openai"),
        row(4, timedelta(hours=1, minutes=50), status=529, output_tokens=0, cost=0.0, latency_ms=50.0),
        row(5, timedelta(hours=5), key_id="key_b", cache_read_tokens=40, cache_write_tokens=7),
        row(6, timedelta(days=1, hours=2), key_id="key_b", deployment="backup", cost=1.0),
        row(7, timedelta(days=1, hours=2, minutes=1), key_id="jwt:alice", input_tokens=1),
        row(8, timedelta(days=1, hours=23, minutes=59), key_id=None, input_tokens=3),
    ]
