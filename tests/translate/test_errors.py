"""Error envelopes between the dialects, and ``TranslationError``."""

from __future__ import annotations

from typing import Any

import pytest

from claudegate.errors import (
    ERROR_TYPE_STATUS,
    OverloadedError,
    RateLimitError,
    UserError,
    error_from_envelope,
)
from claudegate.translate import TranslationError, anthropic_error_to_openai, openai_error_to_anthropic


def anthropic_envelope(kind: str, message: str = "msg") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}


@pytest.mark.parametrize(
    ("status", "kind", "openai_type"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "authentication_error", "authentication_error"),
        (403, "permission_error", "permission_error"),
        (404, "not_found_error", "not_found_error"),
        (413, "request_too_large", "invalid_request_error"),
        (429, "rate_limit_error", "rate_limit_error"),
        (500, "api_error", "server_error"),
        (529, "overloaded_error", "server_error"),
    ],
)
def test_anthropic_errors_become_openai_errors(status: int, kind: str, openai_type: str) -> None:
    assert anthropic_error_to_openai(anthropic_envelope(kind, "Nope."), status) == {
        "error": {"message": "Nope.", "type": openai_type, "param": None, "code": kind}
    }


def test_an_in_stream_anthropic_error_takes_its_status_from_its_type() -> None:
    converted = anthropic_error_to_openai(
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
    )
    assert converted["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
    ],
)
def test_openai_errors_become_anthropic_errors(status: int, kind: str) -> None:
    envelope = {"error": {"message": "Nope.", "type": "whatever", "param": None, "code": None}}
    converted = openai_error_to_anthropic(envelope, status, request_id="req_9")
    assert converted == {"type": "error", "error": {"type": kind, "message": "Nope."}, "request_id": "req_9"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"detail": "Not Found"}, "Not Found"),
        ({"message": "plain"}, "plain"),
        ({"error": "just a string"}, "just a string"),
        ({}, "Upstream error (HTTP 500)."),
    ],
)
def test_bodies_from_other_servers_still_give_a_message(body: dict[str, Any], message: str) -> None:
    assert openai_error_to_anthropic(body, 500)["error"]["message"] == message


def test_an_in_stream_openai_error_takes_its_status_from_its_type() -> None:
    converted = openai_error_to_anthropic({"error": {"message": "slow down", "type": "rate_limit_exceeded"}})
    assert converted["error"]["type"] == "rate_limit_error"
    raised = error_from_envelope(None, converted)
    assert isinstance(raised, RateLimitError) and raised.message == "slow down"


@pytest.mark.parametrize("kind", sorted(ERROR_TYPE_STATUS))
def test_an_in_stream_error_keeps_its_anthropic_type_through_the_openai_dialect(kind: str) -> None:
    chunk = anthropic_error_to_openai({"type": "error", "error": {"type": kind, "message": "busy"}})
    back = openai_error_to_anthropic(chunk)
    assert back == {"type": "error", "error": {"type": kind, "message": "busy"}}
    assert error_from_envelope(None, back).status_code == ERROR_TYPE_STATUS[kind]


def test_an_overloaded_stream_error_raises_overloaded_after_the_round_trip() -> None:
    chunk = anthropic_error_to_openai(
        {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}
    )
    assert chunk["error"]["type"] == "server_error"
    assert isinstance(error_from_envelope(None, openai_error_to_anthropic(chunk)), OverloadedError)


def test_an_openai_code_that_is_not_an_anthropic_type_still_goes_by_the_type() -> None:
    chunk = {"error": {"message": "slow", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}
    assert openai_error_to_anthropic(chunk)["error"]["type"] == "rate_limit_error"
    unknown = {"error": {"message": "odd", "type": "server_error", "code": "engine_unavailable"}}
    assert openai_error_to_anthropic(unknown)["error"]["type"] == "api_error"


def test_translation_error_is_a_user_error_with_both_envelopes() -> None:
    error = TranslationError("messages[2].content: bad", field="messages[2].content")
    assert isinstance(error, UserError)
    assert error.param == "messages[2].content"
    assert error.openai_envelope() == {
        "error": {
            "message": "messages[2].content: bad",
            "type": "invalid_request_error",
            "param": "messages[2].content",
            "code": None,
        }
    }
    assert error.anthropic_envelope("req_5") == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "messages[2].content: bad"},
        "request_id": "req_5",
    }
    assert TranslationError("x", field="a", param="b").param == "b"
