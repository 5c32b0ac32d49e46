"""Recorded live streams replayed by tiny upstreams, read through the gateway in the other dialect.

Every ``tests/fixtures/openai/*.sse`` is served by an OpenAI-compatible upstream (``provider:
openai``) and read by an Anthropic client; every ``tests/fixtures/anthropic/*`` is served by an
Anthropic upstream and read by an OpenAI client. Expectations are computed from the recordings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

from claudegate.sse import validate_anthropic_sse
from claudegate.testing import LiveServer
from claudegate.translate import validate_chat_sse
from tests.gateway import _wire
from tests.gateway._upstreams import ReplayUpstream
from tests.gateway.conftest import Live, serve

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OPENAI_FIXTURES = sorted(path.name for path in (FIXTURES / "openai").glob("*.sse"))
ANTHROPIC_FIXTURES = sorted(path.name for path in (FIXTURES / "anthropic").iterdir())
STOP_BY_FINISH = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
FINISH_BY_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


@dataclass(frozen=True)
class Setup:
    gateway: Live
    openai_upstream: ReplayUpstream
    anthropic_upstream: ReplayUpstream


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    openai_upstream = ReplayUpstream(FIXTURES / "openai")
    anthropic_upstream = ReplayUpstream(FIXTURES / "anthropic")
    with (
        pytest.MonkeyPatch.context() as patch,
        LiveServer(openai_upstream) as openai_server,
        LiveServer(anthropic_upstream) as anthropic_server,
    ):
        patch.setenv("GW_TEST_REPLAY_KEY", "sk-ant-api03-replay-0000")
        routes = [
            {
                "name": f"from-openai/{name}",
                "deployments": [
                    {"provider": "openai", "base_url": openai_server.base_url + "/v1", "model": name}
                ],
            }
            for name in OPENAI_FIXTURES
        ] + [
            {
                "name": f"from-anthropic/{name}",
                "deployments": [
                    {
                        "provider": "anthropic",
                        "base_url": anthropic_server.base_url,
                        "api_key": "env:GW_TEST_REPLAY_KEY",
                        "model": name,
                    }
                ],
            }
            for name in ANTHROPIC_FIXTURES
        ]
        with serve({"models": routes}) as gateway:
            yield Setup(gateway, openai_upstream, anthropic_upstream)


def recorded(directory: str, name: str) -> list[dict[str, Any]]:
    payloads = []
    for line in (FIXTURES / directory / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            payloads.append(orjson.loads(line[5:]))
    return payloads


def expected_from_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What an Anthropic client should get from a recorded OpenAI stream (its first choice: Claude
    answers one)."""
    text, finish, usage = "", None, None
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            if choice["index"] != 0:
                continue
            delta = choice["delta"]
            text += (delta.get("content") or "") + (delta.get("refusal") or "")
            for call in delta.get("tool_calls") or []:
                entry = calls.setdefault(call["index"], {"id": call.get("id"), "name": None, "arguments": ""})
                entry["name"] = call["function"].get("name") or entry["name"]
                entry["arguments"] += call["function"].get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    assert usage is not None and finish is not None
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {
        "id": "msg_" + chunks[0]["id"].removeprefix("chatcmpl-"),
        "text": text,
        "tools": [(c["id"], c["name"], orjson.loads(c["arguments"])) for _, c in sorted(calls.items())],
        "stop_reason": STOP_BY_FINISH[finish],
        "input_tokens": usage["prompt_tokens"] - cached,
        "output_tokens": usage["completion_tokens"],
    }


def anthropic_request(name: str) -> dict[str, Any]:
    return {
        "model": f"from-openai/{name}",
        "max_tokens": 256,
        "stream": True,
        "messages": [{"role": "user", "content": "replay"}],
    }


@pytest.mark.parametrize("name", OPENAI_FIXTURES)
def test_an_openai_upstream_stream_reaches_an_anthropic_client_as_a_valid_stream(
    setup: Setup, name: str
) -> None:
    expected = expected_from_chunks(recorded("openai", name))
    reply = _wire.messages(setup.gateway.base_url, anthropic_request(name))
    assert reply.status == 200, reply.body
    message = validate_anthropic_sse(reply.body)
    indices = [e["index"] for e in _wire.anthropic_events(reply.body) if e["type"] == "content_block_start"]
    assert indices == list(range(len(message["content"])))
    assert message["id"] == expected["id"]
    assert "".join(b["text"] for b in message["content"] if b["type"] == "text") == expected["text"]
    tools = [(b["id"], b["name"], b["input"]) for b in message["content"] if b["type"] == "tool_use"]
    assert tools == expected["tools"]
    assert message["stop_reason"] == expected["stop_reason"]
    assert message["usage"]["input_tokens"] == expected["input_tokens"]
    assert message["usage"]["output_tokens"] == expected["output_tokens"]
    upstream_request = setup.openai_upstream.requests[-1]
    assert upstream_request.path == "/v1/chat/completions" and upstream_request.json()["stream"] is True


@pytest.mark.parametrize("name", OPENAI_FIXTURES)
def test_the_anthropic_sdk_reads_a_replayed_openai_stream(setup: Setup, name: str) -> None:
    expected = expected_from_chunks(recorded("openai", name))
    request = anthropic_request(name)
    with anthropic.Anthropic(
        base_url=setup.gateway.base_url, api_key="sk-ant-client", max_retries=0
    ) as client:
        with client.messages.stream(
            model=request["model"], max_tokens=256, messages=request["messages"]
        ) as stream:
            message = stream.get_final_message()
    assert "".join(b.text for b in message.content if b.type == "text") == expected["text"]
    assert [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"] == expected["tools"]
    assert message.stop_reason == expected["stop_reason"]
    assert message.usage.output_tokens == expected["output_tokens"]


def expected_from_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What an OpenAI client should get from a recorded Anthropic stream."""
    blocks: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] = {}
    stop_reason = None
    message_id = ""
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            message_id = event["message"]["id"]
            usage.update(event["message"]["usage"])
        elif kind == "content_block_start":
            blocks[event["index"]] = {**event["content_block"], "text": "", "thinking": "", "json": ""}
        elif kind == "content_block_delta":
            delta, block = event["delta"], blocks[event["index"]]
            block["text"] += delta.get("text", "") if delta["type"] == "text_delta" else ""
            block["thinking"] += delta.get("thinking", "") if delta["type"] == "thinking_delta" else ""
            block["json"] += delta.get("partial_json", "") if delta["type"] == "input_json_delta" else ""
        elif kind == "message_delta":
            stop_reason = event["delta"]["stop_reason"]
            usage.update({key: value for key, value in event["usage"].items() if value is not None})
    ordered = [blocks[index] for index in sorted(blocks)]
    tools = [(b["id"], b["name"], b["json"]) for b in ordered if b["type"] == "tool_use"]
    finish = FINISH_BY_STOP[stop_reason or "end_turn"]
    prompt = sum(
        usage.get(key) or 0
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return {
        "id": "chatcmpl-" + message_id.removeprefix("msg_"),
        "content": "".join(b["text"] for b in ordered if b["type"] == "text"),
        "reasoning": "".join(b["thinking"] for b in ordered if b["type"] == "thinking"),
        "tools": tools,
        "finish_reason": "stop" if finish == "tool_calls" and not tools else finish,
        "prompt_tokens": prompt,
        "completion_tokens": usage["output_tokens"],
    }


def chat_request(name: str) -> dict[str, Any]:
    return {
        "model": f"from-anthropic/{name}",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "replay"}],
    }


def same_arguments(got: str, recorded_json: str, finish_reason: str) -> bool:
    if finish_reason == "length":  # cut by the limit: the fragments as they came
        return got == recorded_json
    return bool(orjson.loads(got) == orjson.loads(recorded_json))


@pytest.mark.parametrize("name", ANTHROPIC_FIXTURES)
def test_an_anthropic_upstream_stream_reaches_an_openai_client_as_a_valid_stream(
    setup: Setup, name: str
) -> None:
    expected = expected_from_events(recorded("anthropic", name))
    reply = _wire.chat(setup.gateway.base_url, chat_request(name))
    assert reply.status == 200, reply.body
    result = validate_chat_sse(reply.body, include_usage=True)
    assert result["id"] == expected["id"]
    assert result["content"] == expected["content"]
    assert result["reasoning_content"] == expected["reasoning"]
    assert [(c["id"], c["function"]["name"]) for c in result["tool_calls"]] == [
        t[:2] for t in expected["tools"]
    ]
    for call, (_, _, arguments) in zip(result["tool_calls"], expected["tools"], strict=True):
        assert same_arguments(call["function"]["arguments"], arguments, expected["finish_reason"])
    starts = [
        call["index"]
        for chunk in _wire.chat_chunks(reply.body)
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls") or []
        if "id" in call
    ]
    assert starts == list(range(len(expected["tools"])))
    assert result["finish_reason"] == expected["finish_reason"]
    assert result["usage"]["prompt_tokens"] == expected["prompt_tokens"]
    assert result["usage"]["completion_tokens"] == expected["completion_tokens"]
    assert setup.anthropic_upstream.requests[-1].json()["model"] == name


@pytest.mark.parametrize("name", ANTHROPIC_FIXTURES)
def test_the_openai_sdk_reads_a_replayed_anthropic_stream(setup: Setup, name: str) -> None:
    expected = expected_from_events(recorded("anthropic", name))
    request = chat_request(name)
    with openai.OpenAI(base_url=setup.gateway.base_url + "/v1", api_key="sk-client", max_retries=0) as client:
        stream = client.chat.completions.create(
            model=request["model"],
            messages=request["messages"],
            stream=True,
            stream_options={"include_usage": True},
        )
        state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
        for chunk in stream:
            state.handle_chunk(chunk)
    completion = state.current_completion_snapshot
    choice = completion.choices[0]
    assert (choice.message.content or "") == expected["content"]
    assert [(c.id, c.function.name) for c in choice.message.tool_calls or []] == [
        t[:2] for t in expected["tools"]
    ]
    assert choice.finish_reason == expected["finish_reason"]
    assert (
        completion.usage is not None and completion.usage.completion_tokens == expected["completion_tokens"]
    )
