"""Cursor pagination as the API pages lists: ``after_id``, ``before_id``, ``limit``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from claudegate.simulator._errors import fail

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "paginate", "parse_limit"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def parse_limit(raw: str | None) -> int:
    """The ``limit`` query parameter, checked as the API checks it."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        fail("limit: Input should be a valid integer")
    if limit < 1:
        fail("limit: Input should be greater than or equal to 1")
    if limit > MAX_LIMIT:
        fail(f"limit: Input should be less than or equal to {MAX_LIMIT}")
    return limit


def paginate(
    items: Sequence[Mapping[str, Any]], *, after_id: str | None, before_id: str | None, limit: int
) -> dict[str, Any]:
    """One page ``{data, has_more, first_id, last_id}`` of ``items`` (already in list order).

    A cursor naming no item gives an empty page.
    """
    if after_id and before_id:
        fail("after_id and before_id cannot both be set")
    ids = [item["id"] for item in items]
    if after_id:
        start = ids.index(after_id) + 1 if after_id in ids else len(ids)
        page = items[start : start + limit]
        has_more = start + limit < len(items)
    elif before_id:
        end = ids.index(before_id) if before_id in ids else 0
        start = max(0, end - limit)
        page = items[start:end]
        has_more = start > 0
    else:
        page = items[:limit]
        has_more = len(items) > limit
    return {
        "data": [dict(item) for item in page],
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
