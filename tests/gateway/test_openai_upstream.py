"""Clients of both dialects through the gateway to an OpenAI-compatible upstream (``provider: openai``)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import orjson
import pytest
from anthropic.types import MessageParam, ToolParam
from openai.types.chat import ChatCompletionToolParam

from claudegate.sse import validate_anthropic_sse
from tests.gateway import _wire
from tests.gateway.conftest import Live
from tests.gateway.test_chat_completions import PNG_1X1

MODEL = "claude-sonnet-5"
LOOKUP: ToolParam = {
    "name": "lookup_tide",
    "description": "Tide table of a port",
    "input_schema": {"type": "object", "properties": {"port": {"type": "string"}}, "required": ["port"]},
}
SHIPS: ToolParam = {
    "name": "list_ships",
    "description": "Ships in a port",
    "input_schema": {"type": "object", "properties": {"port": {"type": "string"}}, "required": ["port"]},
}


@pytest.fixture(scope="module")
def claude(openai_backed: Live) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=openai_backed.base_url, api_key="sk-ant-client", max_retries=0
    ) as client:
        yield client


def test_anthropic_text_json_and_stream(claude: anthropic.Anthropic) -> None:
    messages: list[MessageParam] = [{"role": "user", "content": "tell me about the ferry"}]
    whole = claude.messages.create(model=MODEL, max_tokens=200, messages=messages, system="Be brief.")
    with claude.messages.stream(model=MODEL, max_tokens=200, messages=messages, system="Be brief.") as stream:
        final = stream.get_final_message()
    assert whole.content[0].type == "text" and "tell me about the ferry" in whole.content[0].text
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in whole.content]
    assert final.stop_reason == whole.stop_reason == "end_turn"
    assert final.usage.output_tokens == whole.usage.output_tokens > 0


def test_anthropic_parallel_tools_json_and_stream(claude: anthropic.Anthropic) -> None:
    messages: list[MessageParam] = [{"role": "user", "content": "use lookup_tide and list_ships for Hull"}]
    whole = claude.messages.create(model=MODEL, max_tokens=300, messages=messages, tools=[LOOKUP, SHIPS])
    with claude.messages.stream(
        model=MODEL, max_tokens=300, messages=messages, tools=[LOOKUP, SHIPS]
    ) as stream:
        final = stream.get_final_message()
    calls = [(b.id, b.name, b.input) for b in whole.content if b.type == "tool_use"]
    assert [name for _, name, _ in calls] == ["lookup_tide", "list_ships"] and whole.stop_reason == "tool_use"
    assert [(b.id, b.name, b.input) for b in final.content if b.type == "tool_use"] == calls


def test_anthropic_raw_stream_with_an_image_is_valid(openai_backed: Live) -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}},
        {"type": "text", "text": "what is this"},
    ]
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": content}],
    }
    reply = _wire.messages(openai_backed.base_url, body)
    assert reply.status == 200
    assert "[image]" in validate_anthropic_sse(reply.body)["content"][0]["text"]


def test_openai_client_through_an_openai_upstream(openai_backed: Live) -> None:
    tool: ChatCompletionToolParam = {
        "type": "function",
        "function": {"name": "lookup_tide", "parameters": dict(LOOKUP["input_schema"])},
    }
    with openai.OpenAI(base_url=openai_backed.base_url + "/v1", api_key="sk-client", max_retries=0) as gpt:
        completion = gpt.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "use lookup_tide for Hull"}], tools=[tool]
        )
    [call] = completion.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "lookup_tide"
    assert isinstance(orjson.loads(call.function.arguments)["port"], str)


def test_an_upstream_error_status_reaches_the_client_in_its_dialect(openai_backed: Live) -> None:
    body = {"model": "claude-nonexistent", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    reply = _wire.messages(openai_backed.base_url, body)
    assert reply.status == 404
    assert reply.json()["type"] == "error" and reply.json()["error"]["type"] == "not_found_error"
