"""The error envelope, returned with 4xx/5xx statuses and sent as a stream's ``error`` event."""

from __future__ import annotations

from typing import Literal, TypeAlias

from claudegate.types._base import WireModel

__all__ = ["ErrorDetail", "ErrorResponse", "ErrorType"]

ErrorType: TypeAlias = (
    Literal[
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "timeout_error",
        "overloaded_error",
    ]
    | str
)
"""The kind of an API error. Values newer than this list still parse (as plain strings)."""


class ErrorDetail(WireModel):
    """The ``error`` object of an envelope: ``{"type": ..., "message": ...}``."""

    type: ErrorType
    message: str


class ErrorResponse(WireModel):
    """``{"type": "error", "error": {...}, "request_id": ...}``: an error body or ``event: error``.

    ``ErrorResponse(error=ErrorDetail(type="overloaded_error", message="Overloaded"))``
    """

    type: Literal["error"] = "error"
    error: ErrorDetail
    request_id: str | None = None
