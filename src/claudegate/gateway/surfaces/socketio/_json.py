"""The JSON module python-socketio encodes and decodes packets with: orjson, with the standard
library's ``json`` for what orjson refuses (integers beyond 64 bits, non-string keys), so a client
can never break a packet that the standard module would have read."""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads"]


def dumps(value: Any, **options: Any) -> str:
    """Compact JSON text (python-socketio passes ``separators``; the output is compact anyway)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes, **options: Any) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
