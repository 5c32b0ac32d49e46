"""Test helpers: read recorded SSE fixtures, and check Anthropic event streams independently."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ANTHROPIC_FIXTURES = sorted((FIXTURES / "anthropic").iterdir())
OPENAI_FIXTURES = sorted((FIXTURES / "openai").glob("*.sse"))
REASONING_FIXTURES = sorted((FIXTURES / "reasoning").glob("*.sse"))


def read_data(path: Path) -> list[dict[str, Any]]:
    """The JSON payload of every ``data:`` line (the ``[DONE]`` terminator skipped)."""
    payloads = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data != "[DONE]":
                payloads.append(orjson.loads(data))
    return payloads


def check_anthropic_stream(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Check the Anthropic stream contract and return the message it builds.

    One ``message_start`` first; blocks start at index 0 and count up by one; each block is
    start -> deltas -> stop with nothing overlapping; deltas fit their block; ``message_delta``
    after every block stopped, then ``message_stop`` last. An ``error`` event ends the stream.
    Tool inputs are parsed from their joined ``partial_json`` (kept raw under ``partial_json``).
    """
    message: dict[str, Any] | None = None
    open_block: dict[str, Any] | None = None
    stopped = False
    delta_seen = False
    for event in events:
        assert not stopped, f"{event['type']} after message_stop"
        kind = event["type"]
        if kind == "error":
            assert message is not None
            message["error"] = event["error"]
            stopped = True
            continue
        if kind == "message_start":
            assert message is None, "a second message_start"
            message = dict(event["message"])
            message["content"] = []
            continue
        assert message is not None, f"{kind} before message_start"
        if kind == "content_block_start":
            assert open_block is None, "a block started while another was open"
            assert not delta_seen
            assert event["index"] == len(message["content"]), "block indices must count up from 0"
            open_block = dict(event["content_block"])
            if open_block["type"] == "tool_use":
                assert open_block["id"] and open_block["name"] and open_block["input"] == {}
                open_block["partial_json"] = ""
            message["content"].append(open_block)
        elif kind == "content_block_delta":
            assert open_block is not None and event["index"] == len(message["content"]) - 1
            delta = event["delta"]
            if delta["type"] == "text_delta":
                assert open_block["type"] == "text"
                open_block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                assert open_block["type"] == "thinking"
                open_block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                assert open_block["type"] == "thinking"
                open_block["signature"] += delta["signature"]
            else:
                assert delta["type"] == "input_json_delta" and open_block["type"] == "tool_use"
                open_block["partial_json"] += delta["partial_json"]
        elif kind == "content_block_stop":
            assert open_block is not None and event["index"] == len(message["content"]) - 1
            if open_block["type"] == "tool_use":
                open_block["input"] = orjson.loads(open_block["partial_json"] or "{}")
            open_block = None
        elif kind == "message_delta":
            assert open_block is None, "message_delta while a block is open"
            assert not delta_seen, "a second message_delta"
            delta_seen = True
            message.update(event["delta"])
            message["usage"] = {**message["usage"], **event["usage"]}
        else:
            assert kind == "message_stop", f"unexpected event {kind}"
            assert delta_seen, "message_stop before message_delta"
            stopped = True
    assert message is not None and stopped, "the stream did not end"
    return message
