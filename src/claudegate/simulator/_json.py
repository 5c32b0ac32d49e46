"""JSON bytes for answers, hashes and token counts that never fail on a value JSON allows.

orjson refuses integers wider than 64 bits, which an in-process caller can pass (``2**70`` in
``metadata`` or a tool schema's ``const``); the standard library writes them. orjson stays the fast
path, and the fallback writes the same compact form (sorted keys when asked), so hashes only
differ for values orjson could not write at all.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps_lenient"]


def dumps_lenient(value: Any, *, sort_keys: bool = False) -> bytes:
    """Compact JSON bytes of ``value``; anything JSON cannot hold is written as its ``str``."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None, default=str)
    except orjson.JSONEncodeError:
        text = json.dumps(value, sort_keys=sort_keys, default=str, ensure_ascii=False, separators=(",", ":"))
        return text.encode()
