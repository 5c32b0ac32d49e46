"""Errors in the caller's dialect with the right status, before and after a stream began."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.gateway import _wire
from tests.gateway.conftest import Live, serve, simulator_route

MODEL = "claude-sonnet-5"
ASK: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "say hello"}],
}
CHAT: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "say hello"}]}
LIMIT = 4000


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """Explicit routes only (no ``*``), and a small body limit."""
    config = {"gateway": {"max_request_bytes": LIMIT}, "models": [simulator_route(MODEL)]}
    with serve(config) as gateway:
        yield gateway


def anthropic_error(reply: _wire.Reply, status: int, error_type: str) -> str:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    body = reply.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert body["request_id"] == reply.headers["request-id"]
    message: str = body["error"]["message"]
    return message


def openai_error(reply: _wire.Reply, status: int) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    error: dict[str, Any] = reply.json()["error"]
    assert isinstance(error["message"], str) and {"type", "param", "code"} <= set(error)
    return error


def test_malformed_json_is_a_400_in_each_dialect(live: Live) -> None:
    broken = b'{"model": "claude-sonnet-5", "messages": [}'
    anthropic_error(
        _wire.post(live.base_url, "/v1/messages", broken, _wire.ANTHROPIC_HEADERS),
        400,
        "invalid_request_error",
    )
    error = openai_error(_wire.post(live.base_url, "/v1/chat/completions", broken, _wire.OPENAI_HEADERS), 400)
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": None}, "model"),
        ({"model": 7}, "model"),
        ({"messages": None}, "messages"),
        ({"messages": "say hello"}, "messages"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": "fifty"}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
    ],
)
def test_a_missing_or_ill_typed_field_is_a_400_naming_it(
    live: Live, change: dict[str, Any], field: str
) -> None:
    body = {key: value for key, value in {**ASK, **change}.items() if value is not None}
    message = anthropic_error(_wire.messages(live.base_url, body), 400, "invalid_request_error")
    assert field in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": None}, "model"),
        ({"messages": None}, "messages"),
        ({"messages": {"role": "user"}}, "messages"),
    ],
)
def test_a_bad_chat_request_is_a_400_with_its_param(live: Live, change: dict[str, Any], field: str) -> None:
    body = {key: value for key, value in {**CHAT, **change}.items() if value is not None}
    error = openai_error(_wire.chat(live.base_url, body), 400)
    assert error["param"] == field and field in error["message"]


def test_an_unknown_model_is_a_404_in_each_dialect(live: Live) -> None:
    message = anthropic_error(
        _wire.messages(live.base_url, {**ASK, "model": "claude-unknown"}), 404, "not_found_error"
    )
    assert "claude-unknown" in message
    error = openai_error(_wire.chat(live.base_url, {**CHAT, "model": "gpt-unknown"}), 404)
    assert "gpt-unknown" in error["message"]


def test_a_body_over_the_limit_is_a_413_in_each_dialect(live: Live) -> None:
    big = "x" * (LIMIT + 10)
    anthropic_error(
        _wire.messages(live.base_url, {**ASK, "messages": [{"role": "user", "content": big}]}),
        413,
        "request_too_large",
    )
    openai_error(_wire.chat(live.base_url, {**CHAT, "messages": [{"role": "user", "content": big}]}), 413)


def test_a_chunked_body_over_the_limit_is_a_413(live: Live) -> None:
    connection = _wire.connect(live.base_url)
    try:
        body = iter([b'{"model": "claude-sonnet-5", "messages": "', b"x" * LIMIT, b'"}'])
        connection.request(
            "POST", "/v1/messages", body=body, headers=_wire.ANTHROPIC_HEADERS, encode_chunked=True
        )
        response = connection.getresponse()
        assert response.status == 413
        assert b"request_too_large" in response.read()
    finally:
        connection.close()


def test_unknown_paths_and_methods(live: Live) -> None:
    assert _wire.call(live.base_url, "GET", "/v1/nothing-here").status == 404
    assert _wire.call(live.base_url, "GET", "/v1/messages", headers=_wire.ANTHROPIC_HEADERS).status == 405


def test_an_upstream_429_keeps_its_status_and_retry_after(live: Live) -> None:
    fault = {"x-sim-fault": "429;retry-after=3"}
    for reply in (
        _wire.messages(live.base_url, ASK, fault),
        _wire.messages(live.base_url, {**ASK, "stream": True}, fault),
    ):
        anthropic_error(reply, 429, "rate_limit_error")
        assert reply.headers["retry-after"] == "3"
    chat = _wire.chat(live.base_url, CHAT, fault)
    assert openai_error(chat, 429)["type"]
    assert chat.headers["retry-after"] == "3"


def test_the_official_sdks_raise_their_rate_limit_error(live: Live) -> None:
    fault = {"x-sim-fault": "429;retry-after=3"}
    with anthropic.Anthropic(base_url=live.base_url, api_key="sk-ant-client", max_retries=0) as claude:
        with pytest.raises(anthropic.RateLimitError) as caught:
            claude.messages.create(**ASK, extra_headers=fault)
    assert caught.value.response.headers["retry-after"] == "3"
    with openai.OpenAI(base_url=live.base_url + "/v1", api_key="sk-client", max_retries=0) as gpt:
        with pytest.raises(openai.RateLimitError) as raised:
            gpt.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_headers=fault
            )
    assert raised.value.response.headers["retry-after"] == "3"


@pytest.mark.parametrize("fault", ["error-mid:3", "reset-mid:3"])
def test_a_failure_mid_stream_ends_an_anthropic_stream_with_an_error_frame(live: Live, fault: str) -> None:
    reply = _wire.messages(live.base_url, {**ASK, "stream": True}, {"x-sim-fault": fault})
    assert reply.status == 200
    names = _wire.frame_names(reply.body)
    assert names[0] == "message_start" and names[-1] == "error"
    assert "message_stop" not in names
    last = _wire.anthropic_events(reply.body)[-1]
    assert last["type"] == "error" and last["error"]["type"] and last["error"]["message"]


@pytest.mark.parametrize("fault", ["error-mid:3", "reset-mid:3"])
def test_a_failure_mid_stream_ends_an_openai_stream_with_an_error_chunk(live: Live, fault: str) -> None:
    reply = _wire.chat(live.base_url, {**CHAT, "stream": True}, {"x-sim-fault": fault})
    assert reply.status == 200
    chunks = _wire.chat_chunks(reply.body)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert set(chunks[-1]) == {"error"} and chunks[-1]["error"]["message"]
    assert b"data: [DONE]" not in reply.body


def test_the_anthropic_sdk_raises_on_an_error_frame(live: Live) -> None:
    with anthropic.Anthropic(base_url=live.base_url, api_key="sk-ant-client", max_retries=0) as claude:
        with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
            with claude.messages.stream(**ASK, extra_headers={"x-sim-fault": "error-mid:3"}) as stream:
                stream.get_final_message()


def test_the_openai_sdk_raises_on_an_error_chunk(live: Live) -> None:
    with openai.OpenAI(base_url=live.base_url + "/v1", api_key="sk-client", max_retries=0) as gpt:
        stream = gpt.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers={"x-sim-fault": "error-mid:3"},
        )
        with pytest.raises(openai.APIError):
            for _ in stream:
                pass
