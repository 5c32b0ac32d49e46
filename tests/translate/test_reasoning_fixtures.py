"""Streams that carry reasoning, both ways: OpenAI chunks -> Anthropic events (a signed thinking
block, then the answer) -> OpenAI chunks again, nothing lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claudegate.translate import ChatToMessagesStream, MessagesToChatStream, validate_chat_stream
from tests.translate._wire import REASONING_FIXTURES, check_anthropic_stream, read_data


def joined(chunks: list[dict[str, Any]], key: str) -> str:
    return "".join(
        choice["delta"].get(key) or ""
        for chunk in chunks
        for choice in chunk["choices"]
        if choice["index"] == 0
    )


def calls(chunks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found: dict[int, list[str]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or ():
                entry = found.setdefault(call["index"], ["", ""])
                entry[0] += call.get("function", {}).get("name") or ""
                entry[1] += call.get("function", {}).get("arguments") or ""
    return [(name, arguments) for name, arguments in found.values()]


def test_there_are_reasoning_fixtures() -> None:
    assert len(REASONING_FIXTURES) >= 3


@pytest.mark.parametrize("path", REASONING_FIXTURES, ids=lambda p: p.name)
def test_reasoning_crosses_both_ways(path: Path) -> None:
    chunks = read_data(path)
    reasoning, signature = joined(chunks, "reasoning_content"), joined(chunks, "reasoning_signature")
    assert reasoning

    anthropic = ChatToMessagesStream(input_tokens=10)
    events = [event for chunk in chunks for event in anthropic.feed(chunk)] + anthropic.finish()
    message = check_anthropic_stream(events)
    assert message["content"][0] == {"type": "thinking", "thinking": reasoning, "signature": signature}
    assert all(block["type"] != "thinking" for block in message["content"][1:])
    texts = "".join(block["text"] for block in message["content"] if block["type"] == "text")
    assert texts == joined(chunks, "content")
    usage = next(chunk["usage"] for chunk in chunks if chunk.get("usage"))
    assert message["usage"]["input_tokens"] == usage["prompt_tokens"]

    back = MessagesToChatStream(include_usage=True, created=0)
    again = [chunk for event in events for chunk in back.feed(event)] + back.finish()
    validate_chat_stream(again)
    assert joined(again, "reasoning_content") == reasoning
    assert joined(again, "reasoning_signature") == signature
    assert joined(again, "content") == joined(chunks, "content")
    assert calls(again) == calls(chunks)
