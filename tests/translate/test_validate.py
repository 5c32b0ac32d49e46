"""The shared OpenAI stream validator: real OpenAI streams pass, every broken rule is caught."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudegate.errors import StreamProtocolError
from claudegate.translate import validate_chat_sse, validate_chat_stream
from tests.translate._wire import OPENAI_FIXTURES, read_data

SINGLE_CHOICE_FIXTURES = [p for p in OPENAI_FIXTURES if p.name != "text_3.sse"]


@pytest.mark.parametrize("path", SINGLE_CHOICE_FIXTURES, ids=lambda p: p.name)
def test_recorded_openai_streams_pass(path: Path) -> None:
    result = validate_chat_sse(path.read_bytes(), include_usage=True)
    chunks = read_data(path)
    assert result["id"] == chunks[0]["id"]
    assert result["usage"] == chunks[-1]["usage"]
    contents = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    assert result["content"] == "".join(contents)


def test_parallel_calls_are_accumulated_per_index() -> None:
    result = validate_chat_sse((OPENAI_FIXTURES[0].parent / "parallel_tool_calls.sse").read_bytes())
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in result["tool_calls"]] == [
        ("GetWeatherArgs", '{"city": "Edinburgh", "country": "GB", "units": "c"}'),
        ("get_stock_price", '{"ticker": "AAPL", "exchange": "NASDAQ"}'),
    ]
    assert result["finish_reason"] == "tool_calls"


def test_more_than_one_choice_is_rejected() -> None:
    with pytest.raises(StreamProtocolError, match="exactly one choice"):
        validate_chat_stream(read_data(OPENAI_FIXTURES[0].parent / "text_3.sse"))


def base() -> list[dict[str, Any]]:
    return read_data(OPENAI_FIXTURES[0].parent / "tool_call_2.sse")


def delta_of(chunks: list[dict[str, Any]], position: int) -> dict[str, Any]:
    delta: dict[str, Any] = chunks[position]["choices"][0]["delta"]
    return delta


def set_object(chunks: list[dict[str, Any]]) -> None:
    chunks[1]["object"] = "chat.completion"


def drop_role(chunks: list[dict[str, Any]]) -> None:
    del delta_of(chunks, 0)["role"]


def index_from_one(chunks: list[dict[str, Any]]) -> None:
    for position in range(len(chunks) - 2):
        delta_of(chunks, position)["tool_calls"][0]["index"] = 1


def repeat_id(chunks: list[dict[str, Any]]) -> None:
    delta_of(chunks, 1)["tool_calls"][0]["id"] = "call_again"


def repeat_name(chunks: list[dict[str, Any]]) -> None:
    delta_of(chunks, 2)["tool_calls"][0]["function"]["name"] = "again"


def no_name_first(chunks: list[dict[str, Any]]) -> None:
    del delta_of(chunks, 0)["tool_calls"][0]["function"]["name"]


def break_arguments(chunks: list[dict[str, Any]]) -> None:
    delta_of(chunks, 3)["tool_calls"][0]["function"]["arguments"] = "}}"


def invent_finish_reason(chunks: list[dict[str, Any]]) -> None:
    chunks[-2]["choices"][0]["finish_reason"] = "error"


def usage_before_finish(chunks: list[dict[str, Any]]) -> None:
    chunks[-1], chunks[-2] = chunks[-2], chunks[-1]


def content_after_finish(chunks: list[dict[str, Any]]) -> None:
    chunks.insert(-1, copy.deepcopy(chunks[1]))


def change_id(chunks: list[dict[str, Any]]) -> None:
    chunks[3]["id"] = "chatcmpl-other"


def no_finish(chunks: list[dict[str, Any]]) -> None:
    del chunks[-2:]


def bad_total(chunks: list[dict[str, Any]]) -> None:
    chunks[-1]["usage"]["total_tokens"] += 1


def usage_in_choice_chunk(chunks: list[dict[str, Any]]) -> None:
    chunks[-2]["usage"] = chunks[-1]["usage"]


BREAKAGES: list[Callable[[list[dict[str, Any]]], None]] = [
    set_object,
    drop_role,
    index_from_one,
    repeat_id,
    repeat_name,
    no_name_first,
    break_arguments,
    invent_finish_reason,
    usage_before_finish,
    content_after_finish,
    change_id,
    no_finish,
    bad_total,
    usage_in_choice_chunk,
]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda f: f.__name__)
def test_each_broken_rule_is_caught(breakage: Callable[[list[dict[str, Any]]], None]) -> None:
    chunks = base()
    validate_chat_stream(chunks)  # the stream is fine before it is broken
    breakage(chunks)
    with pytest.raises(StreamProtocolError):
        validate_chat_stream(chunks)


def test_include_usage_is_enforced_both_ways() -> None:
    chunks = base()
    validate_chat_stream(chunks, include_usage=True)
    with pytest.raises(StreamProtocolError, match="include_usage was not requested"):
        validate_chat_stream(chunks, include_usage=False)
    with pytest.raises(StreamProtocolError, match="no usage chunk"):
        validate_chat_stream(chunks[:-1], include_usage=True)


def test_arguments_cut_by_the_length_limit_are_allowed() -> None:
    chunks = base()
    del chunks[-3]  # the fragment that closes the JSON object
    chunks[-2]["choices"][0]["finish_reason"] = "length"
    assert validate_chat_stream(chunks)["tool_calls"][0]["function"]["arguments"] == '{"city":"New York City'


def test_an_error_chunk_may_end_the_stream() -> None:
    chunks = [*base()[:3], {"error": {"message": "overloaded", "type": "server_error"}}]
    assert validate_chat_stream(chunks)["error"] == {"message": "overloaded", "type": "server_error"}
    raw = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
    assert validate_chat_sse(raw)["error"]["message"] == "overloaded"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'event: message\ndata: {"a": 1}\n\ndata: [DONE]\n\n', "not a data: line"),
        (b"data: [DONE]\n\n", "no chunks"),
        (b"", "does not end with data: \\[DONE\\]"),
        (b"data: [DONE]\n\ndata: [DONE]\n\n", "after data: \\[DONE\\]"),
        (b"data: {not json}\n\n", "not JSON"),
        (b"data: [DONE]", "blank line"),
    ],
)
def test_sse_framing_errors(raw: bytes, problem: str) -> None:
    with pytest.raises(StreamProtocolError, match=problem):
        validate_chat_sse(raw)


def test_sse_without_done_is_rejected_and_comments_are_allowed() -> None:
    raw = (OPENAI_FIXTURES[0].parent / "text_1.sse").read_bytes()
    with pytest.raises(StreamProtocolError, match=r"\[DONE\]"):
        validate_chat_sse(raw.replace(b"data: [DONE]\n\n", b""))
    assert validate_chat_sse(b": keepalive\n\n" + raw)["finish_reason"] == "length"
