"""Every failure answered in the caller's dialect, with the right status.

Anthropic callers get ``{"type": "error", "error": {"type", "message"}, "request_id"}``; OpenAI
callers get ``{"error": {"message", "type", "param", "code"}}``. Upstream errors keep their status,
their ``retry-after`` / rate-limit headers and their error object as it came (``details`` and all:
the official SDKs' recovery logic reads ``error.details.error_code``) with the upstream's own
``request_id``; the gateway's id travels in its ``request-id`` header. An OpenAI-compatible
upstream's error to an OpenAI client's pass-through call keeps its own object (``param``, ``code``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from claudegate.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    StreamProtocolError,
    UserError,
)
from claudegate.translate import TranslationError, anthropic_error_to_openai

__all__ = ["GatewayError", "anthropic_body", "anthropic_error", "classify", "openai_body", "shown"]

_PASSED_HEADERS = ("retry-after", "retry-after-ms", "x-should-retry")


@dataclass(slots=True)
class GatewayError(Exception):
    """A failure with everything needed to answer it."""

    status: int
    error_type: str
    message: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    upstream: dict[str, Any] | None = None
    """The upstream's error object, relayed as it came."""
    upstream_request_id: str | None = None
    openai_upstream: dict[str, Any] | None = None
    """An OpenAI-compatible upstream's own error object (a pass-through call), relayed as it came."""

    def __str__(self) -> str:
        return f"{self.status} {self.error_type}: {self.message}"


def shown(text: str, limit: int = 100) -> str:
    """Client input as an error message may echo it: at most ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + "…"


def _upstream_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {name: headers[name] for name in _PASSED_HEADERS if name in headers}
    for name, value in headers.items():
        if name.lower().startswith("anthropic-ratelimit-"):
            kept[name.lower()] = value
    return kept


def classify(exc: BaseException) -> GatewayError:
    """The answer for any exception a handler let through."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TranslationError):
        return GatewayError(400, "invalid_request_error", exc.message, param=exc.param or exc.field)
    if isinstance(exc, UserError):
        return GatewayError(400, "invalid_request_error", exc.message, param=exc.field)
    if isinstance(exc, APIStatusError):
        error_type = exc.type or ("api_error" if exc.status_code >= 500 else "invalid_request_error")
        body = exc.body if isinstance(exc.body, dict) else None
        upstream = body.get("error") if body is not None else None
        relayed = body.get("openai_error") if body is not None else None
        return GatewayError(
            exc.status_code,
            error_type,
            exc.message,
            headers=_upstream_headers(exc.headers),
            upstream=dict(upstream) if isinstance(upstream, dict) and upstream.get("type") else None,
            upstream_request_id=exc.request_id,
            openai_upstream=dict(relayed) if isinstance(relayed, dict) else None,
        )
    if isinstance(exc, APITimeoutError):
        return GatewayError(504, "timeout_error", f"upstream timed out: {exc.message}")
    if isinstance(exc, APIConnectionError):
        return GatewayError(502, "api_error", f"upstream connection failed: {exc.message}")
    if isinstance(exc, StreamProtocolError):
        return GatewayError(502, "api_error", f"upstream broke the protocol: {exc.message}")
    return GatewayError(500, "api_error", "internal error in the gateway")


def anthropic_error(error: GatewayError, request_id: str) -> dict[str, Any]:
    """The Anthropic error envelope (an upstream's error object and request id kept as they came)."""
    if error.upstream is not None:
        return {
            "type": "error",
            "error": error.upstream,
            "request_id": error.upstream_request_id or request_id,
        }
    return {
        "type": "error",
        "error": {"type": error.error_type, "message": error.message},
        "request_id": request_id,
    }


def anthropic_body(error: GatewayError, request_id: str) -> bytes:
    return orjson.dumps(anthropic_error(error, request_id))


def openai_body(error: GatewayError) -> bytes:
    if error.openai_upstream is not None:
        return orjson.dumps({"error": error.openai_upstream})
    inner = error.upstream or {"type": error.error_type, "message": error.message}
    envelope = anthropic_error_to_openai({"type": "error", "error": inner}, error.status)
    if error.param is not None and isinstance(envelope.get("error"), dict):
        envelope["error"]["param"] = error.param
    return orjson.dumps(envelope)
