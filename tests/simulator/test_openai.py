"""``/v1/chat/completions`` through the official ``openai`` SDK: JSON, streams, tool calls, usage."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from tests.simulator.conftest import Live

MODEL = "claude-opus-4-8"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1, "maximum": 5},
            },
            "required": ["city", "days"],
        },
    },
}


@pytest.fixture
async def chat(server: Live) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def user(text: str) -> list[Any]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


async def test_a_completion_answers_in_openai_shape(chat: openai.AsyncOpenAI, server: Live) -> None:
    completion = await chat.chat.completions.create(model=MODEL, messages=user("hello from openai"))
    choice = completion.choices[0]
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert "hello from openai" in (choice.message.content or "")
    request = {
        "model": MODEL,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hello from openai"}],
    }
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == server.app.simulator.count_tokens(request)


async def test_a_stream_with_usage_ends_with_a_usage_chunk(chat: openai.AsyncOpenAI) -> None:
    whole = await chat.chat.completions.create(model=MODEL, messages=user("stream these words"))
    stream = await chat.chat.completions.create(
        model=MODEL, messages=user("stream these words"), stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == whole.choices[0].message.content
    finish = [
        chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == (whole.usage.completion_tokens if whole.usage else None)


async def test_named_tools_come_back_as_tool_calls(chat: openai.AsyncOpenAI) -> None:
    messages = user("please run get_weather for Oslo")
    completion = await chat.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function" and calls[0].function.name == "get_weather"
    arguments = json.loads(calls[0].function.arguments)
    assert isinstance(arguments["city"], str) and 1 <= arguments["days"] <= 5

    stream = await chat.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], stream=True)
    streamed: dict[int, dict[str, str]] = {}
    async for chunk in stream:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = streamed.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            entry["name"] += (delta.function.name or "") if delta.function else ""
            entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
    assert list(streamed) == [0]
    assert streamed[0]["id"] == calls[0].id and streamed[0]["name"] == "get_weather"
    assert json.loads(streamed[0]["arguments"]) == arguments


async def test_errors_use_the_openai_envelope(chat: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await chat.chat.completions.create(model="claude-nope", messages=user("hi"))
    assert isinstance(missing.value.body, dict) and "claude-nope" in missing.value.body["message"]
    with pytest.raises(openai.BadRequestError) as too_many:
        await chat.chat.completions.create(model=MODEL, messages=user("hi"), n=2)
    assert isinstance(too_many.value.body, dict) and too_many.value.body["param"] == "n"
    with pytest.raises(openai.RateLimitError):
        await chat.chat.completions.create(
            model=MODEL, messages=user("hi"), extra_headers={"x-sim-fault": "429"}
        )
    stream = await chat.chat.completions.create(
        model=MODEL, messages=user("hi"), stream=True, extra_headers={"x-sim-fault": "error-mid:2"}
    )
    with pytest.raises(openai.APIError, match="Overloaded"):
        async for _ in stream:
            pass


async def test_openai_clients_can_list_the_models(chat: openai.AsyncOpenAI, server: Live) -> None:
    ids = [model.id async for model in chat.models.list()]
    assert ids == [spec.id for spec in server.app.config.models]
