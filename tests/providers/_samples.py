"""Requests for provider tests, and how their answers are checked (against recorded streams too)."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from claudegate.providers import OpenAICompatProvider, ProviderRequest, ProviderStream
from claudegate.sse import validate_anthropic_events

ASK: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "Describe the harbour lights at dusk"}],
}
STREAM: dict[str, Any] = {**ASK, "stream": True}
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Local time in a zone",
    "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
}
# A 1x1 transparent PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
# PROTOCOL.md's mapping, OpenAI -> Anthropic.
STOP_BY_FINISH = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


async def collect(stream: ProviderStream) -> list[dict[str, Any]]:
    """Every event of a provider stream."""
    return [event async for event in stream.events()]


async def both(provider: OpenAICompatProvider, body: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The JSON answer and the streamed events for one request, after checking they agree."""
    message = (await provider.create(ProviderRequest(body=body))).message
    events = await collect(await provider.stream(ProviderRequest(body={**body, "stream": True})))
    streamed = validate_anthropic_events(events)
    assert streamed.pop("stop_details", None) is None
    assert streamed == message
    return message, events


def text_of(message: dict[str, Any]) -> str:
    """A message's text blocks, joined."""
    return "".join(block["text"] for block in message["content"] if block["type"] == "text")


def expected_from(raw: bytes) -> dict[str, Any]:
    """What a recorded OpenAI stream says, read straight from its ``data:`` lines (choice 0 only).

    ``text`` (content and refusal), ``calls`` (id, name, concatenated arguments, by index), the last
    ``finish``, the last ``usage`` and the chunk ``id``.
    """
    text, finish, usage, chat_id = "", None, None, ""
    calls: dict[int, dict[str, str]] = {}
    for line in raw.decode().splitlines():
        if not line.startswith("data: {"):
            continue
        data = orjson.loads(line[6:])
        chat_id, usage = data["id"], data.get("usage") or usage
        for choice in data["choices"]:
            if choice["index"] != 0:
                continue
            delta = choice["delta"]
            text += (delta.get("content") or "") + (delta.get("refusal") or "")
            for call in delta.get("tool_calls") or ():
                entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                function = call.get("function", {})
                entry["id"] = entry["id"] or call.get("id", "")
                entry["name"] = entry["name"] or function.get("name", "")
                entry["arguments"] += function.get("arguments", "")
            finish = choice.get("finish_reason") or finish
    ordered = [calls[index] for index in sorted(calls)]
    return {"text": text, "calls": ordered, "finish": finish, "usage": usage, "id": chat_id}
