"""The request log: what reached the simulator, when, and what it answered (API keys never kept)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

__all__ = ["RequestLog"]


class RequestLog:
    """Every request the simulator saw, oldest first, up to ``limit`` entries.

    Each entry is a dict: ``time`` (Unix seconds when the request arrived), ``method``, ``path``,
    ``request_id``, ``model`` and ``stream`` (when the body named them), ``fields`` (the top-level
    names of a JSON object body, sorted: what a translating client sent), ``fault`` (the injected
    fault's text, or None), ``status`` (None until answered, and for a reset connection) and
    ``disconnected`` (the client left before a paced answer was complete).
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def start(self, method: str, path: str, request_id: str) -> dict[str, Any]:
        """Record a request as it arrives; the caller fills in the rest of the returned entry."""
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": method,
            "path": path,
            "request_id": request_id,
            "model": None,
            "stream": None,
            "fault": None,
            "status": None,
            "disconnected": False,
        }
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """A snapshot of the log (copies: later changes to the log do not show in it)."""
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
