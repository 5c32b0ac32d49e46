"""Reading the usage ledger a gateway wrote to its SQLite file, as the tests check it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["rolled_up", "rows"]


def rows(db: Path) -> list[dict[str, Any]]:
    """Every ledger row, in the order written."""
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute("SELECT * FROM cg_usage ORDER BY id")]
    finally:
        connection.close()


def rolled_up(db: Path) -> list[int]:
    """The calls each rollup and latency histogram counts (hourly, daily; all four equal the
    ledger's rows when every writer kept them in step)."""
    connection = sqlite3.connect(db)
    try:
        return [
            int(connection.execute(f"SELECT coalesce(sum({column}), 0) FROM cg_{table}").fetchone()[0])
            for table, column in (
                ("usage_hourly", "requests"),
                ("usage_daily", "requests"),
                ("usage_latency_hourly", "count"),
                ("usage_latency_daily", "count"),
            )
        ]
    finally:
        connection.close()
