"""A tool call as the model asked for it, and the result that goes back to the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claudegate.tools._metrics import Outcome

__all__ = ["ToolCall", "ToolResult"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One ``tool_use`` block: its id, the tool's name and the raw arguments."""

    id: str
    name: str
    input: dict[str, Any]

    @classmethod
    def from_block(cls, block: Any) -> ToolCall:
        """From a ``tool_use`` block (a dict or a typed block)."""
        if isinstance(block, dict):
            return cls(block["id"], block["name"], block.get("input") or {})
        return cls(block.id, block.name, block.input or {})


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one call produced: ``content`` for the model, ``outcome`` and ``seconds`` for you."""

    tool_use_id: str
    name: str
    content: str
    is_error: bool
    outcome: Outcome
    seconds: float

    def to_block(self) -> dict[str, Any]:
        """The ``tool_result`` content block to send back (``is_error`` only when true)."""
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": self.tool_use_id,
            "content": self.content,
        }
        if self.is_error:
            block["is_error"] = True
        return block
