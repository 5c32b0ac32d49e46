"""Signals raised by user code inside a tool; the runtime turns each into an ``is_error`` result.

They are not library errors (not in ``claudegate.errors``): the library raises errors, tools raise
signals to tell the model something.
"""

from __future__ import annotations

__all__ = ["ToolError", "ToolRetry"]


class ToolRetry(Exception):
    """Ask the model to call again with better arguments; ``message`` says what to change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ToolError(Exception):
    """Fail this call on purpose; ``message`` is what the model reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
