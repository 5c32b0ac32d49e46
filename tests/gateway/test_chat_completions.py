"""``POST /v1/chat/completions`` against the simulator: what an OpenAI client sees, JSON and SSE alike."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from claudegate.simulator import count_input_tokens
from claudegate.translate import validate_chat_sse
from tests.gateway import _wire
from tests.gateway.conftest import Live

MODEL = "claude-sonnet-5"
PNG_1X1 = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db40000000049454e44ae426082"
    )
).decode()


def _function(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} of a place",
            "parameters": {"type": "object", "properties": properties, "required": sorted(properties)},
        },
    }


WEATHER = _function("get_weather", {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}})
TIME = _function("get_time", {"zone": {"type": "string"}})


def ask(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **fields}


def parsed(calls: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """Tool calls as (id, name, arguments decoded): the JSON's spacing may differ between paths."""
    return [(c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"])) for c in calls]


def completion(gateway: Live, body: dict[str, Any]) -> dict[str, Any]:
    reply = _wire.chat(gateway.base_url, body)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    result: dict[str, Any] = reply.json()
    assert result["object"] == "chat.completion" and result["id"].startswith("chatcmpl-")
    return result


def streamed(gateway: Live, body: dict[str, Any], include_usage: bool | None = True) -> dict[str, Any]:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    reply = _wire.chat(gateway.base_url, {**body, "stream": True, **options})
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "text/event-stream; charset=utf-8"
    return validate_chat_sse(reply.body, include_usage=include_usage is True)


def test_text_answer_with_usage(gateway: Live) -> None:
    result = completion(gateway, ask("tell me about the old lighthouse"))
    [choice] = result["choices"]
    assert choice["message"]["role"] == "assistant"
    assert "tell me about the old lighthouse" in choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    usage = result["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_the_stream_says_what_the_json_answer_says(gateway: Live) -> None:
    body = ask("tell me about the old lighthouse")
    whole = completion(gateway, body)
    stream = streamed(gateway, body)
    assert stream["content"] == whole["choices"][0]["message"]["content"]
    assert stream["finish_reason"] == "stop"
    assert stream["usage"]["prompt_tokens"] == whole["usage"]["prompt_tokens"]
    assert stream["usage"]["completion_tokens"] == whole["usage"]["completion_tokens"]
    assert stream["model"] == MODEL


def test_the_stream_and_the_json_answer_name_the_same_model(gateway: Live) -> None:
    # An alias resolves to a dated model: a client must not see two names for one answer.
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hello"}]}
    whole = completion(gateway, body)
    stream = streamed(gateway, body)
    assert whole["model"] == stream["model"]


def test_no_usage_chunk_unless_asked(gateway: Live) -> None:
    stream = streamed(gateway, ask("short answer please"), include_usage=None)
    assert stream["usage"] is None and stream["finish_reason"] == "stop"


def test_system_and_developer_messages_reach_the_model_as_its_system_prompt(gateway: Live) -> None:
    system, developer = "You are a careful harbour pilot. " * 8, "Answer in one sentence. " * 8
    messages = [
        {"role": "system", "content": system},
        {"role": "developer", "content": developer},
        {"role": "user", "content": "when is high tide"},
    ]
    result = completion(gateway, {"model": MODEL, "messages": messages})
    plain = completion(gateway, ask("when is high tide"))
    expected = count_input_tokens(
        {
            "model": MODEL,
            "system": system + "\n" + developer,
            "messages": [{"role": "user", "content": "when is high tide"}],
        }
    )
    assert result["usage"]["prompt_tokens"] == expected
    assert result["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"] + 90


def test_a_single_tool_call(gateway: Live) -> None:
    body = ask("use get_weather for Lisbon", tools=[WEATHER, TIME])
    result = completion(gateway, body)
    [choice] = result["choices"]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    arguments = orjson.loads(call["function"]["arguments"])
    assert isinstance(arguments["city"], str) and arguments["days"] >= 1
    stream = streamed(gateway, body)
    assert parsed(stream["tool_calls"]) == parsed(choice["message"]["tool_calls"])
    assert stream["finish_reason"] == "tool_calls"


def test_parallel_tool_calls_are_indexed_from_zero_with_distinct_ids(gateway: Live) -> None:
    body = ask("call get_weather and then get_time for Oslo", tools=[WEATHER, TIME])
    calls = completion(gateway, body)["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert len({c["id"] for c in calls}) == 2
    reply = _wire.chat(gateway.base_url, {**body, "stream": True})
    indices = [
        call["index"]
        for chunk in _wire.chat_chunks(reply.body)
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls") or []
        if "id" in call
    ]
    assert indices == [0, 1]
    assert parsed(validate_chat_sse(reply.body)["tool_calls"]) == parsed(calls)


def test_parallel_tool_calls_false_gives_one_call(gateway: Live) -> None:
    body = ask(
        "call get_weather and then get_time for Oslo", tools=[WEATHER, TIME], parallel_tool_calls=False
    )
    calls = completion(gateway, body)["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather"]


def test_tool_choice_names_forces_or_forbids_a_call(gateway: Live) -> None:
    text = "what should I pack for the trip"
    named = ask(
        text, tools=[WEATHER, TIME], tool_choice={"type": "function", "function": {"name": "get_time"}}
    )
    calls = completion(gateway, named)["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_time"]
    required = completion(gateway, ask(text, tools=[WEATHER, TIME], tool_choice="required"))
    assert len(required["choices"][0]["message"]["tool_calls"]) >= 1
    forbidden = completion(gateway, ask("use get_weather now", tools=[WEATHER], tool_choice="none"))
    assert not forbidden["choices"][0]["message"].get("tool_calls")
    assert forbidden["choices"][0]["finish_reason"] == "stop"


def test_tool_results_go_back_to_the_model(gateway: Live) -> None:
    first = completion(gateway, ask("use get_weather for Lisbon", tools=[WEATHER]))["choices"][0]["message"]
    messages = [
        {"role": "user", "content": "use get_weather for Lisbon"},
        {"role": "assistant", "content": first.get("content"), "tool_calls": first["tool_calls"]},
        {"role": "tool", "tool_call_id": first["tool_calls"][0]["id"], "content": "sunny and 24 degrees"},
    ]
    result = completion(gateway, {"model": MODEL, "messages": messages, "tools": [WEATHER]})
    assert "sunny and 24 degrees" in result["choices"][0]["message"]["content"]
    assert result["choices"][0]["finish_reason"] == "stop"


def test_an_image_data_url_is_sent_as_an_image(gateway: Live) -> None:
    content = [
        {"type": "text", "text": "what is in this picture"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}", "detail": "low"}},
    ]
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}]}
    result = completion(gateway, body)
    text_only = completion(gateway, ask("what is in this picture"))
    assert "[image]" in result["choices"][0]["message"]["content"]
    # The simulator counts an image as 1000 input tokens: the picture reached it as an image block.
    assert result["usage"]["prompt_tokens"] - text_only["usage"]["prompt_tokens"] >= 1000


def test_stop_ends_the_answer_before_the_stop_text(gateway: Live) -> None:
    body = ask("the quiet harbour at dawn", stop=["harbour"])
    result = completion(gateway, body)
    content = result["choices"][0]["message"]["content"]
    assert content.endswith("the quiet ") and "harbour" not in content
    assert result["choices"][0]["finish_reason"] == "stop"
    assert streamed(gateway, body)["content"] == content


def test_max_completion_tokens_cuts_the_answer(gateway: Live) -> None:
    body = ask("describe every ship in the harbour in detail", max_completion_tokens=3)
    result = completion(gateway, body)
    assert result["choices"][0]["finish_reason"] == "length"
    assert result["usage"]["completion_tokens"] == 3
    stream = streamed(gateway, body)
    assert stream["finish_reason"] == "length" and stream["usage"]["completion_tokens"] == 3


def test_response_format_json_schema_makes_the_content_that_json(gateway: Live) -> None:
    schema = {
        "type": "object",
        "properties": {"port": {"type": "string"}, "berths": {"type": "integer", "minimum": 1}},
        "required": ["port", "berths"],
        "additionalProperties": False,
    }
    body = ask(
        "describe the port of Genoa",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "port_info", "schema": schema, "strict": True},
        },
    )
    result = completion(gateway, body)
    message = result["choices"][0]["message"]
    answer = orjson.loads(message["content"])
    assert set(answer) == {"port", "berths"} and answer["berths"] >= 1
    assert not message.get("tool_calls") and result["choices"][0]["finish_reason"] == "stop"
    stream = streamed(gateway, body)
    assert orjson.loads(stream["content"]) == answer and stream["tool_calls"] == []
    assert stream["finish_reason"] == "stop"
