"""Reading the usage ledger a gateway wrote to its SQLite file, as the tests check it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["rows"]


def rows(db: Path) -> list[dict[str, Any]]:
    """Every ledger row, in the order written."""
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute("SELECT * FROM cg_usage ORDER BY id")]
    finally:
        connection.close()
