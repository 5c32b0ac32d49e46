"""JSON bodies with a bounded nesting depth, for every place that parses a client's request.

Deeply nested JSON is legal but no request needs it, and past a few hundred levels recursive code
fails (``orjson.dumps`` refuses 255 levels; Python recursion ends near 1,000). So every surface and
the simulator refuse a body nested deeper than ``MAX_JSON_DEPTH`` at parse time, with an error
that names the limit, before anything else touches it.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["MAX_JSON_DEPTH", "JSONDepthError", "check_depth", "loads_bounded"]

MAX_JSON_DEPTH = 128
"""The deepest nesting of objects and arrays accepted in a request body (the body itself is 1)."""


class JSONDepthError(ValueError):
    """A JSON body nested deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is nested deeper than {limit} levels (the limit)")
        self.limit = limit


def check_depth(raw: bytes, value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ``JSONDepthError`` when ``value`` (parsed from ``raw``) nests deeper than ``limit``.

    A body with fewer opening brackets than the limit cannot be that deep: that count runs at
    memory speed, so only bodies with many brackets pay for a walk (iterative, never recursive).
    """
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            raise JSONDepthError(limit)
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))


def loads_bounded(raw: bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """``orjson.loads``, refusing bodies nested deeper than ``limit`` (``JSONDepthError``); other
    malformed JSON raises ``orjson.JSONDecodeError`` as usual."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():
            raise JSONDepthError(limit) from None
        raise
    if isinstance(value, dict | list):
        check_depth(raw, value, limit)
    return value
