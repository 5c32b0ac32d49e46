"""Errors the simulator answers with, as the client's own exceptions so in-process callers get them too."""

from __future__ import annotations

from typing import Any, NoReturn

from claudegate.errors import APIStatusError, error_from_envelope

__all__ = ["api_error", "error_envelope", "fail"]


def error_envelope(error_type: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    """The Anthropic error body: ``{"type": "error", "error": {...}, "request_id": ...}``."""
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}


def api_error(status: int, error_type: str, message: str) -> APIStatusError:
    """The exception for an error answer; ``body`` holds the envelope (its ``request_id`` set on the wire)."""
    return error_from_envelope(status, error_envelope(error_type, message))


def fail(message: str, *, status: int = 400, error_type: str = "invalid_request_error") -> NoReturn:
    """Raise the error answer for an invalid request (400 ``invalid_request_error`` unless told)."""
    raise api_error(status, error_type, message)
