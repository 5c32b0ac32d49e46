"""Translation errors, and error envelopes converted between the two dialects.

Anthropic's envelope is ``{"type": "error", "error": {"type", "message"}, "request_id"}``;
OpenAI's is ``{"error": {"message", "type", "param", "code"}}``. Clients of both official SDKs pick
the exception class from the HTTP status, so the status decides the error type on either side and
the other dialect's type is kept in OpenAI's ``code`` for whoever reads the body.
"""

from __future__ import annotations

from typing import Any

from claudegate.errors import ERROR_TYPE_STATUS, UserError

__all__ = ["TranslationError", "anthropic_error_to_openai", "fail", "openai_error_to_anthropic"]


class TranslationError(UserError):
    """A client's request cannot be carried over to the other dialect (answer with a 400).

    Only requests raise it: they are what a client sent, and the client can fix them. An
    upstream's response or stream that cannot be translated raises
    ``claudegate.errors.StreamProtocolError`` instead (the upstream broke the protocol: a 502).

    ``field`` is the offending field's path in the input (``messages[3].tool_calls[0].function
    .arguments``); ``param`` is what an OpenAI error envelope reports as ``param`` (the same path
    unless given).
    """

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, param: str | None = None) -> None:
        super().__init__(message, field=field)
        self.param = param if param is not None else field

    def openai_envelope(self) -> dict[str, Any]:
        """The error as OpenAI's clients expect it in a 400 response body."""
        return {
            "error": {
                "message": self.message,
                "type": "invalid_request_error",
                "param": self.param,
                "code": None,
            }
        }

    def anthropic_envelope(self, request_id: str | None = None) -> dict[str, Any]:
        """The error as Anthropic's clients expect it in a 400 response body."""
        envelope: dict[str, Any] = {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": self.message},
        }
        if request_id is not None:
            envelope["request_id"] = request_id
        return envelope


def fail(field: str, problem: str) -> TranslationError:
    """A ``TranslationError`` whose message starts with the field path, as the APIs' own do."""
    return TranslationError(f"{field}: {problem}", field=field)


_OPENAI_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}

_ANTHROPIC_TYPE_BY_STATUS = {status: kind for kind, status in ERROR_TYPE_STATUS.items()}
# OpenAI answers 503 when its engines are overloaded: the same condition as Anthropic's 529.
_ANTHROPIC_TYPE_BY_STATUS[503] = "overloaded_error"

_STATUS_BY_OPENAI_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "tokens": 429,
    "requests": 429,
    "server_error": 500,
}


def _message_of(envelope: Any, status: int) -> str:
    if isinstance(envelope, dict):
        error = envelope.get("error")
        if isinstance(error, dict):
            message = error.get("message")
            if isinstance(message, str) and message:
                return message
        elif isinstance(error, str) and error:
            return error
        for key in ("message", "detail"):
            value = envelope.get(key)
            if isinstance(value, str) and value:
                return value
    elif isinstance(envelope, str) and envelope:
        return envelope
    return f"Upstream error (HTTP {status})."


def _error_type_of(envelope: Any) -> str | None:
    if isinstance(envelope, dict):
        error = envelope.get("error")
        if isinstance(error, dict):
            kind = error.get("type")
            if isinstance(kind, str) and kind:
                return kind
            code = error.get("code")
            if isinstance(code, str) and code:
                return code
    return None


def _anthropic_code_of(envelope: Any) -> str | None:
    # ``anthropic_error_to_openai`` keeps the Anthropic type in ``code``; reading it back keeps an
    # in-stream round trip exact (``overloaded_error`` stays one, not a generic ``api_error``).
    error = envelope.get("error") if isinstance(envelope, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code in ERROR_TYPE_STATUS else None


def anthropic_error_to_openai(envelope: dict[str, Any], status: int | None = None) -> dict[str, Any]:
    """Anthropic error envelope (or in-stream ``error`` event) -> OpenAI error envelope.

    ``status`` is the HTTP status of the answer; for an in-stream error (which has none) it is
    derived from the error type (``overloaded_error`` -> 529).
    """
    anthropic_type = _error_type_of(envelope)
    if status is None:
        status = ERROR_TYPE_STATUS.get(anthropic_type or "", 500)
    openai_type = _OPENAI_TYPE_BY_STATUS.get(status)
    if openai_type is None:
        openai_type = "server_error" if status >= 500 else "invalid_request_error"
    return {
        "error": {
            "message": _message_of(envelope, status),
            "type": openai_type,
            "param": None,
            "code": anthropic_type,
        }
    }


def openai_error_to_anthropic(
    envelope: dict[str, Any], status: int | None = None, *, request_id: str | None = None
) -> dict[str, Any]:
    """OpenAI error envelope (or in-stream ``{"error": ...}`` chunk) -> Anthropic error envelope.

    The result is also a valid Anthropic ``error`` stream event. ``status`` is the HTTP status of
    the answer; for an in-stream error it is derived from ``code`` when that is an Anthropic error
    type (as ``anthropic_error_to_openai`` puts it there), else from OpenAI's error type or code.
    """
    if status is None:
        kept = _anthropic_code_of(envelope)
        if kept is not None:
            status = ERROR_TYPE_STATUS[kept]
        else:
            status = _STATUS_BY_OPENAI_TYPE.get(_error_type_of(envelope) or "", 500)
    anthropic_type = _ANTHROPIC_TYPE_BY_STATUS.get(status)
    if anthropic_type is None:
        anthropic_type = "api_error" if status >= 500 else "invalid_request_error"
    result: dict[str, Any] = {
        "type": "error",
        "error": {"type": anthropic_type, "message": _message_of(envelope, status)},
    }
    if request_id is not None:
        result["request_id"] = request_id
    return result
