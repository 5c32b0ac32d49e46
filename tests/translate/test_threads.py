"""The thread protocol as plain data: reading ``thread``, expanding a continue, the error bodies."""

from __future__ import annotations

from typing import Any

import pytest

from claudegate.translate import TranslationError
from claudegate.translate.threads import (
    ThreadError,
    ThreadParam,
    changed_create_only_fields,
    expand_continue,
    read_thread,
    without_thread,
)


def test_thread_fields_are_read_or_refused_naming_the_field() -> None:
    assert read_thread({"model": "m"}) is None and read_thread({"thread": None}) is None
    assert read_thread({"thread": {"type": "create"}}) == ThreadParam("create")
    assert read_thread({"thread": {"type": "continue", "previous_message_id": "msg_1"}}) == ThreadParam(
        "continue", "msg_1"
    )
    cases = {
        "thread": "oops",
        "thread.type": {"type": "fork"},
        "thread.previous_message_id": {"type": "continue", "previous_message_id": ""},
        "thread.extra": {"type": "create", "extra": 1},
    }
    for field, value in cases.items():
        with pytest.raises(TranslationError) as refused:
            read_thread({"thread": value})
        assert refused.value.field == field and refused.value.message.startswith(field + ":")


def test_a_continue_expands_to_the_stateless_request_it_stands_for() -> None:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather in SF?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}]},
    ]
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "68F"}],
    }
    request = {
        "model": "m",
        "max_tokens": 10,
        "stream": True,
        "messages": [result],
        "thread": {"type": "continue", "previous_message_id": "msg_1"},
    }
    expanded = expand_continue(request, system="be brief", tools=[{"name": "w"}], history=history)
    assert expanded == {
        "model": "m",
        "max_tokens": 10,
        "stream": True,
        "system": "be brief",
        "tools": [{"name": "w"}],
        "messages": [*history, result],
    }
    assert "thread" not in without_thread(request) and without_thread(request)["messages"] == [result]
    assert changed_create_only_fields({**request, "system": "be brief"}, "be brief", None) == []
    assert changed_create_only_fields({**request, "system": "other", "tools": []}, "be brief", None) == [
        "system",
        "tools",
    ]


def test_errors_carry_the_codes_and_statuses_the_sdk_reads() -> None:
    found = ThreadError.not_found("msg_1")
    assert (found.status, found.error_type) == (404, "not_found_error")
    envelope = ThreadError.in_flight("msg_1").envelope("req_1")
    assert envelope["error"]["details"] == {"error_code": "thread_continue_in_flight"}
    assert envelope["error"]["type"] == "invalid_request_error" and envelope["request_id"] == "req_1"
    assert ThreadError.fingerprint_mismatch(["system", "tools"]).message.startswith("`system` and `tools`")
