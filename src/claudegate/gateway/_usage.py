"""Usage read off answers as they pass: ``message_start`` and ``message_delta`` for streams."""

from __future__ import annotations

from typing import Any

__all__ = ["USAGE_KEY", "UsageTap"]


USAGE_KEY = "claudegate.usage"
"""Where a handler leaves its usage dict in the ASGI scope, for the ledger and the token correction."""


class UsageTap:
    """Accumulates the usage a stream reports (``message_delta`` usage is cumulative)."""

    __slots__ = ("model", "stop_reason", "usage")

    def __init__(self) -> None:
        self.usage: dict[str, Any] = {}
        self.model: str | None = None
        self.stop_reason: str | None = None

    def observe(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.model = message.get("model")
            self.usage.update(message.get("usage") or {})
        elif kind == "message_delta":
            for key, value in (event.get("usage") or {}).items():
                if value is not None:
                    self.usage[key] = value
            self.stop_reason = (event.get("delta") or {}).get("stop_reason")

    def observe_message(self, message: dict[str, Any]) -> None:
        self.model = message.get("model")
        self.usage.update(message.get("usage") or {})
        self.stop_reason = message.get("stop_reason")
