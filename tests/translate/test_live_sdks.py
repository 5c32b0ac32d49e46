"""Translated streams over a real socket, read by the official OpenAI and Anthropic SDKs.

A tiny ASGI app replays a recorded stream of one dialect, translated on the fly into the other;
the request's ``model`` names the fixture to replay.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anthropic
import openai
import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

from claudegate.sse._encoder import encode_json_event
from claudegate.testing import LiveServer
from claudegate.translate import (
    ChatToMessagesStream,
    MessagesToChatStream,
    chunk_to_sse,
    done_sse,
    validate_chat_sse,
)
from tests.translate._wire import FIXTURES, read_data

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def translated_frames(path: str, body: dict[str, Any]) -> list[bytes]:
    if path == "/v1/chat/completions":
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        to_chat = MessagesToChatStream(include_usage=include_usage)
        events = read_data(FIXTURES / "anthropic" / body["model"])
        chunks = [c for e in events for c in to_chat.feed(e)] + to_chat.finish()
        return [chunk_to_sse(c) for c in chunks] + [done_sse()]
    to_messages = ChatToMessagesStream()
    chunks = read_data(FIXTURES / "openai" / body["model"])
    events = [e for c in chunks for e in to_messages.feed(c)] + to_messages.finish()
    return [encode_json_event(e) for e in events]


async def replay_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            break
    frames = translated_frames(scope["path"], orjson.loads(raw))
    headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for frame in frames:
        await send({"type": "http.response.body", "body": frame, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(replay_app) as live:
        yield live


@pytest.mark.parametrize("fixture", ["tool_use_response.txt", "stream-a-refusal.sse", "basic_response.txt"])
def test_the_openai_sdk_reads_a_translated_claude_stream(server: LiveServer, fixture: str) -> None:
    events = read_data(FIXTURES / "anthropic" / fixture)
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="test", max_retries=0)
    stream = client.chat.completions.create(
        model=fixture,
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in stream:
        state.handle_chunk(chunk)
    completion = state.current_completion_snapshot
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    texts = [d["text"] for d in deltas if d["type"] == "text_delta"]
    message = completion.choices[0].message
    assert (message.content or "") == "".join(texts)
    assert [c.function.name for c in message.tool_calls or []] == [
        e["content_block"]["name"]
        for e in events
        if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use"
    ]
    final = next(e for e in events if e["type"] == "message_delta")
    finish = {"tool_use": "tool_calls", "refusal": "content_filter", "end_turn": "stop"}
    assert completion.choices[0].finish_reason == finish[final["delta"]["stop_reason"]]
    assert (
        completion.usage is not None and completion.usage.completion_tokens == final["usage"]["output_tokens"]
    )


def test_the_raw_openai_stream_keeps_the_sse_contract(server: LiveServer) -> None:
    request = {"model": "tool_use_response.txt", "stream": True, "stream_options": {"include_usage": True}}
    post = urllib.request.Request(server.base_url + "/v1/chat/completions", data=orjson.dumps(request))
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(post, timeout=10) as response:
        raw = response.read()
    result = validate_chat_sse(raw, include_usage=True)
    assert result["tool_calls"][0]["function"]["arguments"] == '{"location": "Paris"}'


@pytest.mark.parametrize("fixture", ["parallel_tool_calls.sse", "refusal_1.sse", "text_with_usage.sse"])
def test_the_anthropic_sdk_reads_a_translated_openai_stream(server: LiveServer, fixture: str) -> None:
    chunks = read_data(FIXTURES / "openai" / fixture)
    client = anthropic.Anthropic(base_url=server.base_url, api_key="test", max_retries=0)
    question: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Hi"}]
    with client.messages.stream(model=fixture, max_tokens=100, messages=question) as stream:
        message = stream.get_final_message()
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    text = "".join((d.get("content") or "") + (d.get("refusal") or "") for d in deltas)
    assert "".join(b.text for b in message.content if b.type == "text") == text
    calls: dict[int, str] = {}
    for delta in deltas:
        for call in delta.get("tool_calls") or []:
            calls[call["index"]] = calls.get(call["index"], "") + call["function"]["arguments"]
    inputs = [b.input for b in message.content if b.type == "tool_use"]
    assert inputs == [orjson.loads(calls[k]) for k in sorted(calls)]
    assert message.usage.output_tokens == chunks[-1]["usage"]["completion_tokens"]
    finish_reason = next(
        c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]
    )
    assert message.stop_reason == {"tool_calls": "tool_use", "stop": "end_turn"}[finish_reason]
