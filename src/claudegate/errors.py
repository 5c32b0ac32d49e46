"""The one error tree of claudegate.

Every exception the library raises on purpose is a ``ClaudegateError``::

    ClaudegateError
     ├── APIConnectionError            the request never got an HTTP answer (refused, reset, DNS)
     │    └── APITimeoutError          connect, read or total timeout fired
     ├── APIStatusError                the API answered with a 4xx/5xx (or an in-stream error event)
     │    ├── BadRequestError          400 invalid_request_error
     │    ├── AuthenticationError      401 authentication_error
     │    ├── PermissionDeniedError    403 permission_error
     │    ├── NotFoundError            404 not_found_error
     │    ├── RequestTooLargeError     413 request_too_large
     │    ├── RateLimitError           429 rate_limit_error
     │    ├── InternalServerError      500 and any other 5xx (api_error)
     │    └── OverloadedError          529 overloaded_error
     ├── APIResponseValidationError    a 2xx answer whose body does not fit the documented shape
     ├── StreamProtocolError           a stream broke the event-order contract
     ├── CircuitOpenError              a circuit breaker refused the call without sending it
     ├── QuotaExceededError            a local quota refused the call without sending it
     └── UserError                     the caller misused the library (bad argument, invalid request)
          └── TranslationError         an OpenAI request that cannot become an Anthropic one
                                       (claudegate.translate)

Tool signals (``ToolRetry``, ``ToolError``) are raised by user code inside tools; they are not
errors of the library and are not part of this tree.

This module is pure: it does no I/O and imports nothing from the rest of the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "ERROR_TYPE_STATUS",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CircuitOpenError",
    "ClaudegateError",
    "InternalServerError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTooLargeError",
    "StreamProtocolError",
    "UserError",
    "error_from_envelope",
    "status_error_class",
]


class ClaudegateError(Exception):
    """Base of every error claudegate raises on purpose."""

    attempts: int
    """How many HTTP attempts were made before this error surfaced (0 when none was sent)."""

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts


class APIConnectionError(ClaudegateError):
    """The request got no HTTP answer: connection refused or reset, or the stream was cut."""

    def __init__(self, message: str = "Connection error.", *, attempts: int = 0) -> None:
        super().__init__(message, attempts=attempts)


class APITimeoutError(APIConnectionError):
    """A connect, read or total timeout fired."""

    def __init__(self, message: str = "Request timed out.", *, attempts: int = 0) -> None:
        super().__init__(message, attempts=attempts)


class APIStatusError(ClaudegateError):
    """The API answered with an error status, or sent an ``event: error`` inside a stream.

    ``status_code`` is the HTTP status (for an in-stream error: the status the error type maps to),
    ``type`` the envelope's ``error.type``, ``body`` the decoded envelope, ``request_id`` the
    ``request-id`` response header (or the envelope's ``request_id``).
    """

    default_status: ClassVar[int] = 500

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        type: str | None = None,
        body: object | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.status_code = status_code if status_code is not None else self.default_status
        self.type = type
        self.body = body
        self.request_id = request_id
        # Lower-case names, whatever the server sent: ``error.headers["retry-after"]`` always works.
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in headers.items()} if headers else {}

    def __str__(self) -> str:
        parts = [f"{self.status_code}"]
        if self.type:
            parts.append(self.type)
        text = f"Error code: {' '.join(parts)} - {self.message}"
        if self.request_id:
            text += f" (request_id: {self.request_id})"
        return text


class BadRequestError(APIStatusError):
    """400 ``invalid_request_error``: the request is malformed or breaks a rule of the API."""

    default_status = 400


class AuthenticationError(APIStatusError):
    """401 ``authentication_error``: the key is missing or wrong."""

    default_status = 401


class PermissionDeniedError(APIStatusError):
    """403 ``permission_error``: the key may not do this."""

    default_status = 403


class NotFoundError(APIStatusError):
    """404 ``not_found_error``: no such model, batch or route."""

    default_status = 404


class RequestTooLargeError(APIStatusError):
    """413 ``request_too_large``: the body is over the size limit."""

    default_status = 413


class RateLimitError(APIStatusError):
    """429 ``rate_limit_error``: slow down; ``headers['retry-after']`` says for how long."""

    default_status = 429


class InternalServerError(APIStatusError):
    """500 and any other 5xx (``api_error``): the server failed."""

    default_status = 500


class OverloadedError(APIStatusError):
    """529 ``overloaded_error``: the API is overloaded; retry later."""

    default_status = 529


class APIResponseValidationError(ClaudegateError):
    """The API answered 2xx, but the body does not fit the documented shape; ``body`` keeps it."""

    def __init__(self, message: str, *, body: object = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.body = body
        self.request_id = request_id


class StreamProtocolError(ClaudegateError):
    """A stream broke the event-order contract (a delta before its block start, a second
    ``message_start``, a delta that does not fit its block). A stream cut short by the network is
    an ``APIConnectionError`` instead."""


class CircuitOpenError(ClaudegateError):
    """A circuit breaker is open: the call was refused without being sent."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExceededError(ClaudegateError):
    """A local usage or cost quota would be exceeded: the call was refused without being sent."""

    def __init__(self, message: str, *, quota: str | None = None) -> None:
        super().__init__(message)
        self.quota = quota


class UserError(ClaudegateError):
    """The library was misused: an invalid request, a bad argument or configuration.

    ``field`` names the offending field with a dotted/indexed path (``tools[2].name``) when known.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: RequestTooLargeError,
    429: RateLimitError,
    529: OverloadedError,
}

_BY_TYPE: dict[str, type[APIStatusError]] = {
    "invalid_request_error": BadRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "request_too_large": RequestTooLargeError,
    "rate_limit_error": RateLimitError,
    "api_error": InternalServerError,
    "overloaded_error": OverloadedError,
}

_MAX_MESSAGE = 1000

ERROR_TYPE_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def status_error_class(status_code: int | None, error_type: str | None = None) -> type[APIStatusError]:
    """The exception class for an HTTP status, falling back to the envelope's error type."""
    if status_code is not None:
        cls = _BY_STATUS.get(status_code)
        if cls is not None:
            return cls
        if status_code >= 500:
            return InternalServerError
    if error_type is not None:
        cls = _BY_TYPE.get(error_type)
        if cls is not None:
            return cls
    return APIStatusError


def error_from_envelope(
    status_code: int | None,
    body: Any,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    attempts: int = 0,
) -> APIStatusError:
    """Build the matching ``APIStatusError`` from a decoded error envelope (or any body)."""
    error_type: str | None = None
    message: str | None = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            raw_type = err.get("type")
            raw_message = err.get("message")
            error_type = raw_type if isinstance(raw_type, str) else None
            message = raw_message if isinstance(raw_message, str) else None
        if request_id is None and isinstance(body.get("request_id"), str):
            request_id = body["request_id"]
    if status_code is None and error_type is not None:
        status_code = ERROR_TYPE_STATUS.get(error_type)
    cls = status_error_class(status_code, error_type)
    if message is None:
        message = body if isinstance(body, str) and body else f"HTTP {status_code}"
    if len(message) > _MAX_MESSAGE:  # an HTML error page from a proxy, say: keep errors loggable
        message = message[:_MAX_MESSAGE] + f"… ({len(message)} characters)"
    return cls(
        message,
        status_code=status_code,
        type=error_type,
        body=body,
        request_id=request_id,
        headers=headers,
        attempts=attempts,
    )
