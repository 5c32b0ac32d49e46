"""Salesforce Models API error answers as claudegate errors, and which of them are worth a retry.

The error body is ``{"errorCode", "messageCode", "message"}`` (plus optional ``targets``,
``parameters`` and ``properties``): the ``Error`` schema of Salesforce's Models API spec, as
the Apex classes generated from it (``aiplatform.ModelsAPI_Error``) and the Mobile SDKs'
``SfapApiErrorResponseBody`` read it. The spec's error statuses for ``chat-generations`` are
400, 401, 403, 423, 429, 500 and 503 (the ``Code4xx``/``Code5xx`` members of the generated
``createChatGenerations_ResponseException``); the org REST APIs answer a list of such objects.

How they map:

- On a 4xx, ``errorCode`` decides when it is one of the spec's codes (``LIMIT_EXCEEDED`` a 429
  ``rate_limit_error``, ``INVALID_AUTH`` a 401, ``REQUIRED_FIELD_MISSING`` a 400, ``NOT_FOUND``
  a 404); otherwise, and on every 5xx, the status decides.
- 423 ("server is busy") is the upstream's capacity, not the caller's request: it becomes a 529
  ``overloaded_error`` (retried by the official SDKs, failed over and retried by the gateway),
  with the upstream's status kept in the message.
- A status that changes is kept in the message (``HTTP 423: …``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from claudegate.errors import ERROR_TYPE_STATUS, APIConnectionError, APIStatusError, error_from_envelope

__all__ = ["BUSY_STATUSES", "ERROR_CODE_TYPES", "status_error"]

BUSY_STATUSES = frozenset({423, 429})
"""Statuses that say "not now": retried after a wait, like a rate limit."""

ERROR_CODE_TYPES: Mapping[str, str] = {
    "LIMIT_EXCEEDED": "rate_limit_error",
    "INVALID_AUTH": "authentication_error",
    "REQUIRED_FIELD_MISSING": "invalid_request_error",
    "NOT_FOUND": "not_found_error",
    "INTERNAL_ERROR": "api_error",
}
"""The spec's ``errorCode`` values and the error type each one is."""

_TYPE_BY_STATUS = {status: name for name, status in ERROR_TYPE_STATUS.items()}
_SERVER_BUSY = 423


def _error_object(raw: bytes) -> dict[str, Any]:
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return {}
    if isinstance(body, list) and body:  # the org REST APIs' shape: a list of errors
        body = body[0]
    return body if isinstance(body, dict) else {}


def _classified(status: int, code: str | None) -> tuple[int, str]:
    """The status and error type to report for an upstream status and ``errorCode``."""
    if status == _SERVER_BUSY:
        return 529, "overloaded_error"
    by_code = ERROR_CODE_TYPES.get(code) if code else None
    # On a 4xx the spec's code says what went wrong (a LIMIT_EXCEEDED is a rate limit whatever
    # the status); a 5xx stays a server error.
    if 400 <= status < 500 and by_code is not None and by_code != "api_error":
        return ERROR_TYPE_STATUS[by_code], by_code
    return status, _TYPE_BY_STATUS.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


async def status_error(response: Any, attempts: int) -> APIStatusError:
    """A Salesforce error answer as the matching error, with an Anthropic envelope."""
    try:
        raw: bytes = await response.aread()
    except APIConnectionError:
        raw = b""
    error = _error_object(raw)
    code = error.get("errorCode") if isinstance(error.get("errorCode"), str) else None
    text = error.get("message")
    parts = [part for part in (code, text) if isinstance(part, str) and part]
    upstream_status: int = response.status_code
    detail = ": ".join(parts) or raw[:200].decode("utf-8", errors="replace") or f"HTTP {upstream_status}"
    status, error_type = _classified(upstream_status, code)
    if status != upstream_status:
        detail = f"HTTP {upstream_status}: {detail}"
    envelope = {"type": "error", "error": {"type": error_type, "message": f"Salesforce Models API: {detail}"}}
    # Lower-case names: the error's headers are a plain dict, and servers spell them every way.
    headers = {name.lower(): value for name, value in response.headers.items()}
    return error_from_envelope(
        status, envelope, request_id=response.request_id, headers=headers, attempts=attempts
    )
