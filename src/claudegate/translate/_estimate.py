"""An input-token estimate for a Messages request, for when no upstream count is known yet."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["estimate_input_tokens"]

MEDIA_TOKENS = 1600  # the most an image costs once the API has resized it (~1.15 megapixels)
_COUNTED = ("system", "messages", "tools", "tool_choice")


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """An upward-biased estimate of a Messages request's input tokens.

    One token per three bytes of its ``system``, ``messages``, ``tools`` and ``tool_choice`` as
    JSON, except that an inline image or document counts as ``MEDIA_TOKENS`` instead of its
    base64 bytes (which say little about its tokens). Cheap: one serialisation, and a walk of the
    content only when something is inline media.
    """
    counted = {key: body[key] for key in _COUNTED if key in body}
    data = orjson.dumps(counted)
    size = len(data)
    media = 0
    if b'"base64"' in data:
        for message in counted.get("messages") or ():
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list):
                found, inline = _media(content)
                media += found
                size -= inline
    return max(1, -(-size // 3) + media * MEDIA_TOKENS)


def _media(blocks: list[Any]) -> tuple[int, int]:
    """(media blocks, bytes of their inline data) among ``blocks`` and the tool results in them."""
    count = inline = 0
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result" and isinstance(block.get("content"), list):
            found, size = _media(block["content"])
            count, inline = count + found, inline + size
        elif kind == "image" or kind == "document":
            count += 1
            source = block.get("source")
            data = source.get("data") if isinstance(source, dict) else None
            if isinstance(data, str):
                inline += len(data)
    return count, inline
