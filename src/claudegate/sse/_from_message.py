"""A whole message replayed as the stream events that would have produced it."""

from __future__ import annotations

import copy
from typing import Any

import orjson

__all__ = ["message_to_events"]


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    deltas: list[dict[str, Any]]
    if kind == "text":
        # As the live API streams a cited block: an empty citations list at its start, then its
        # citations, then its text.
        citations = block.get("citations") or []
        start = {**block, "text": ""}
        start.pop("citations", None)
        if citations:
            start = {"citations": [], **start}
        deltas = [{"type": "citations_delta", "citation": c} for c in citations]
        deltas += [{"type": "text_delta", "text": block.get("text", "")}] if block.get("text") else []
    elif kind in ("tool_use", "server_tool_use"):
        start = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": orjson.dumps(block.get("input", {})).decode()}]
    elif kind == "thinking":
        start = {**block, "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": block.get("thinking", "")}]
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    else:  # redacted thinking, server-tool results and unknown blocks arrive whole
        start, deltas = block, []
    events: list[dict[str, Any]] = [{"type": "content_block_start", "index": index, "content_block": start}]
    events += [{"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas]
    events.append({"type": "content_block_stop", "index": index})
    return events


def message_to_events(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The Anthropic stream events that accumulate to ``message`` (for answering a streamed
    request from a non-streamed upstream call)."""
    usage = dict(message.get("usage") or {})
    start = {key: copy.deepcopy(value) for key, value in message.items() if key != "content"}
    start.update(content=[], stop_reason=None, stop_sequence=None, usage={**usage, "output_tokens": 1})
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message.get("content") or []):
        events += _block_events(index, block)
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    events.append({"type": "message_delta", "delta": delta, "usage": usage})
    events.append({"type": "message_stop"})
    return events
