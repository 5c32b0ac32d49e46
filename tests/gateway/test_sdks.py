"""The official ``anthropic`` and ``openai`` SDKs through the gateway, over a real socket.

Each case is asked twice, as JSON and as a stream read by the SDK's own stream helper; both must
give the same answer.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import orjson
import pytest
from anthropic.types import Message, MessageParam, ToolParam
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)

from tests.gateway.conftest import Live
from tests.gateway.test_chat_completions import PNG_1X1

MODEL = "claude-sonnet-5"
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
TIME: ToolParam = {
    "name": "get_time",
    "description": "Local time in a zone",
    "input_schema": {
        "type": "object",
        "properties": {"zone": {"type": "string"}},
        "required": ["zone"],
        "additionalProperties": False,
    },
}


def user(text: str) -> list[MessageParam]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def claude(gateway: Live) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.base_url, api_key="sk-ant-client", max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
def gpt(gateway: Live) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="sk-client", max_retries=0) as client:
        yield client


def both_ways(claude: anthropic.Anthropic, **request: Any) -> Message:
    """The JSON answer, after checking that the SDK's stream helper builds the same message."""
    whole: Message = claude.messages.create(model=MODEL, **request)
    with claude.messages.stream(model=MODEL, **request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.model_dump() == whole.model_dump()
    assert text == "".join(block.text for block in whole.content if block.type == "text")
    return whole


def test_anthropic_text_with_usage(claude: anthropic.Anthropic) -> None:
    message = both_ways(claude, max_tokens=200, messages=user("describe the fish market"))
    [block] = message.content
    assert block.type == "text" and "describe the fish market" in block.text
    assert message.stop_reason == "end_turn" and message.role == "assistant"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_anthropic_one_tool(claude: anthropic.Anthropic) -> None:
    message = both_ways(
        claude, max_tokens=300, messages=user("use get_weather for Bergen"), tools=[WEATHER, TIME]
    )
    calls = [block for block in message.content if block.type == "tool_use"]
    assert [call.name for call in calls] == ["get_weather"] and message.stop_reason == "tool_use"
    assert isinstance(calls[0].input, dict) and calls[0].input["unit"] in ("c", "f")


def test_anthropic_parallel_tools(claude: anthropic.Anthropic) -> None:
    message = both_ways(
        claude,
        max_tokens=300,
        messages=user("call get_time then get_weather for Bergen"),
        tools=[WEATHER, TIME],
    )
    calls = [block for block in message.content if block.type == "tool_use"]
    assert [call.name for call in calls] == ["get_time", "get_weather"]
    assert calls[0].id != calls[1].id


def test_anthropic_image_and_system_prompt(claude: anthropic.Anthropic) -> None:
    content: list[Any] = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}},
        {"type": "text", "text": "what is this"},
    ]
    messages: list[MessageParam] = [{"role": "user", "content": content}]
    system = "You describe pictures of boats. " * 10
    message = both_ways(claude, max_tokens=200, messages=messages, system=system)
    assert message.content[0].type == "text" and "[image]" in message.content[0].text
    counted = claude.messages.count_tokens(model=MODEL, messages=messages, system=system)
    assert message.usage.input_tokens == counted.input_tokens >= 1000


def test_anthropic_stop_sequence_and_max_tokens(claude: anthropic.Anthropic) -> None:
    stopped = both_ways(
        claude, max_tokens=200, messages=user("the gulls over the pier"), stop_sequences=["pier"]
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "pier"
    assert stopped.content[0].type == "text" and stopped.content[0].text.endswith("over the ")
    cut = both_ways(claude, max_tokens=4, messages=user("the gulls over the pier"))
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 4


def chat_tool(tool: ToolParam) -> ChatCompletionToolParam:
    return {
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool.get("description", ""),
            "parameters": dict(tool["input_schema"]),
            "strict": True,
        },
    }


def function_calls(message: ChatCompletionMessage) -> list[tuple[str, str, Any]]:
    """(id, name, decoded arguments) of each tool call: the JSON's spacing may differ between paths."""
    calls = []
    for call in message.tool_calls or []:
        assert isinstance(call, ChatCompletionMessageFunctionToolCall)
        calls.append((call.id, call.function.name, orjson.loads(call.function.arguments)))
    return calls


def chat_both_ways(gpt: openai.OpenAI, **request: Any) -> ChatCompletion:
    """The JSON completion, after checking the stream helper and raw chunks accumulate to it."""
    whole: ChatCompletion = gpt.chat.completions.create(model=MODEL, **request)
    with gpt.chat.completions.stream(
        model=MODEL, **request, stream_options={"include_usage": True}
    ) as stream:
        if whole.choices[0].finish_reason == "length":
            # The helper refuses a completion cut by the limit, with the completion attached.
            with pytest.raises(openai.LengthFinishReasonError) as cut:
                stream.get_final_completion()
            final = cut.value.completion
        else:
            final = stream.get_final_completion()
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in gpt.chat.completions.create(model=MODEL, stream=True, **request):
        state.handle_chunk(chunk)
    for built in (final, state.current_completion_snapshot):
        expected, got = whole.choices[0], built.choices[0]
        assert got.finish_reason == expected.finish_reason
        assert (got.message.content or "") == (expected.message.content or "")
        assert function_calls(got.message) == function_calls(expected.message)
    assert final.usage is not None and whole.usage is not None
    assert final.usage.prompt_tokens == whole.usage.prompt_tokens
    assert final.usage.completion_tokens == whole.usage.completion_tokens
    return whole


def test_openai_text_with_usage(gpt: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "describe the fish market"}]
    completion = chat_both_ways(gpt, messages=messages)
    choice = completion.choices[0]
    assert choice.message.content is not None and "describe the fish market" in choice.message.content
    assert choice.finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > completion.usage.prompt_tokens > 0


def test_openai_one_tool_and_parallel_tools(gpt: openai.OpenAI) -> None:
    tools = [chat_tool(WEATHER), chat_tool(TIME)]
    one = chat_both_ways(
        gpt, messages=[{"role": "user", "content": "use get_weather for Bergen"}], tools=tools
    )
    assert [name for _, name, _ in function_calls(one.choices[0].message)] == ["get_weather"]
    assert one.choices[0].finish_reason == "tool_calls"
    two = chat_both_ways(
        gpt, messages=[{"role": "user", "content": "call get_time then get_weather for Bergen"}], tools=tools
    )
    assert [name for _, name, _ in function_calls(two.choices[0].message)] == ["get_time", "get_weather"]


def test_openai_image_and_system_prompt(gpt: openai.OpenAI) -> None:
    url = "data:image/png;base64," + base64.b64encode(base64.b64decode(PNG_1X1)).decode()
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You describe pictures of boats."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        },
    ]
    completion = chat_both_ways(gpt, messages=messages)
    content = completion.choices[0].message.content
    assert content is not None and "[image]" in content
    assert completion.usage is not None and completion.usage.prompt_tokens >= 1000


def test_openai_stop_and_max_tokens(gpt: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "the gulls over the pier"}]
    stopped = chat_both_ways(gpt, messages=messages, stop=["pier"])
    assert stopped.choices[0].message.content is not None
    assert (
        stopped.choices[0].message.content.endswith("over the ")
        and stopped.choices[0].finish_reason == "stop"
    )
    cut = chat_both_ways(gpt, messages=messages, max_completion_tokens=4)
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens == 4
    legacy = chat_both_ways(gpt, messages=messages, max_tokens=4)
    assert legacy.usage is not None and legacy.usage.completion_tokens == 4
