"""Tool-stream ``buffer`` mode: each tool call's arguments are held until they form valid JSON,
then emitted as one complete ``input_json_delta`` — for clients (n8n, some agents) that cannot
parse partial tool JSON.

Repair is a last resort: only arguments that are not valid JSON when their block ends (an
upstream cut by ``max_tokens``, or a broken one) are repaired — closed as the SDK's partial parser
would — and each repair is counted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from claudegate.sse import parse_partial_json

__all__ = ["buffer_tool_arguments", "complete_arguments"]

_TOOL_BLOCKS = ("tool_use", "server_tool_use")


def complete_arguments(text: str, on_repair: Callable[[], None]) -> str:
    """``text`` as compact JSON when it parses; else repaired (counted); ``{}`` only for empty."""
    if not text.strip():
        return "{}"
    try:
        return orjson.dumps(json.loads(text)).decode()
    except ValueError:
        pass
    on_repair()
    try:
        repaired = parse_partial_json(text)
    except ValueError:
        repaired = None
    return orjson.dumps(repaired if isinstance(repaired, dict) else {}).decode()


async def buffer_tool_arguments(
    batches: AsyncIterator[list[dict[str, Any]]], on_repair: Callable[[], None]
) -> AsyncIterator[list[dict[str, Any]]]:
    """The same events, with each tool block's argument fragments replaced by one whole delta."""
    held: dict[int, list[str]] = {}
    async for batch in batches:
        out: list[dict[str, Any]] = []
        for event in batch:
            kind = event.get("type")
            if kind == "content_block_start":
                block = event.get("content_block") or {}
                if block.get("type") in _TOOL_BLOCKS:
                    held[event["index"]] = []
            elif kind == "content_block_delta" and event.get("index") in held:
                delta = event.get("delta") or {}
                if delta.get("type") == "input_json_delta":
                    held[event["index"]].append(delta.get("partial_json", ""))
                    continue
            elif kind == "content_block_stop" and event.get("index") in held:
                index = event["index"]
                out.append(_whole(index, held.pop(index), on_repair))
            elif kind == "message_delta" and held:
                # A tool block cut short (max_tokens) never stops: flush what it has, repaired.
                for index in sorted(held):
                    out.append(_whole(index, held.pop(index), on_repair))
            out.append(event)
        if out:
            yield out


def _whole(index: int, parts: list[str], on_repair: Callable[[], None]) -> dict[str, Any]:
    arguments = complete_arguments("".join(parts), on_repair)
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": arguments},
    }
