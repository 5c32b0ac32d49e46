"""Usage read off answers as they pass: ``message_start`` and ``message_delta`` for streams."""

from __future__ import annotations

from typing import Any

__all__ = ["UsageTap", "token_counts"]


def token_counts(usage: dict[str, Any]) -> tuple[int, int]:
    """(input tokens, cache reads and writes included; output tokens) of a usage object."""
    total_in = 0
    for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        value = usage.get(name)
        if isinstance(value, int):
            total_in += value
    out = usage.get("output_tokens")
    return total_in, out if isinstance(out, int) else 0


class UsageTap:
    """Accumulates the usage a stream reports (``message_delta`` usage is cumulative)."""

    __slots__ = ("message_id", "model", "stop_reason", "usage")

    def __init__(self) -> None:
        self.usage: dict[str, Any] = {}
        self.model: str | None = None
        self.stop_reason: str | None = None
        self.message_id: str | None = None

    def observe(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.model = message.get("model")
            self.message_id = message.get("id")
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
