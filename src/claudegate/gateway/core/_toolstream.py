"""Tool-stream ``buffer`` mode: each tool call's arguments are held until they form valid JSON,
then emitted as one complete ``input_json_delta`` — for clients (n8n, some agents) that cannot
parse partial tool JSON.

The fragments go through ``claudegate.tools.ToolArgumentAssembler``, which scans each one once and
parses a call's text once, when it closes. Repair is a last resort: only arguments that are not
valid JSON when their block ends (an upstream cut by ``max_tokens``, or a broken one) are repaired
— closed as the SDK's partial parser would — and each repair is counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from claudegate.tools import AssembledArguments, ToolArgumentAssembler

__all__ = ["buffer_tool_arguments"]


async def buffer_tool_arguments(
    batches: AsyncIterator[list[dict[str, Any]]], on_repair: Callable[[], None]
) -> AsyncIterator[list[dict[str, Any]]]:
    """The same events, with each tool block's argument fragments replaced by one whole delta."""
    assembler = ToolArgumentAssembler(on_repair=lambda _name: on_repair())
    async for batch in batches:
        out: list[dict[str, Any]] = []
        for event in batch:
            kind = event.get("type")
            index = event.get("index")
            if kind == "content_block_start":
                assembler.feed_anthropic(event)
            elif kind == "content_block_delta" and index in assembler:
                delta = event.get("delta") or {}
                if delta.get("type") == "input_json_delta":
                    assembler.feed_anthropic(event)
                    continue
            elif kind == "content_block_stop" and isinstance(index, int) and index in assembler:
                out.append(_whole(assembler.close(index)))
            elif kind == "message_delta":
                # A tool block cut short (max_tokens) never stops: flush what it has, repaired.
                out.extend(_whole(result) for result in assembler.finish())
            out.append(event)
        if out:
            yield out


def _whole(result: AssembledArguments) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": result.key,
        "delta": {"type": "input_json_delta", "partial_json": result.text},
    }
