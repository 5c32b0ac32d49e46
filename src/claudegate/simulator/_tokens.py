"""The simulator's one token counter, used for usage and ``count_tokens`` alike.

It is an estimate with fixed, documented rules, not a real tokenizer:

- any text is ``⌈len(text) / 4⌉`` tokens (about four characters per token);
- a request costs 4 tokens of framing, each message 3 more;
- a text, thinking or text-document block costs its text; a ``search_result`` block its source,
  title and texts; a ``tool_use`` block its name plus its compact JSON input; a ``tool_result``
  1 token plus its content; an image or a binary document 1000 tokens; any other block its
  compact JSON;
- a tool definition costs its name, description and compact JSON input schema (a server tool its
  compact JSON); a system prompt costs its text.

Generated output is counted the same way: each text or thinking block is ``⌈len / 4⌉`` tokens and a
``tool_use`` block ``⌈len(json) / 4⌉``, where ``json`` is the input as streamed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claudegate.simulator._json import dumps_lenient

__all__ = [
    "BASE_TOKENS",
    "MEDIA_TOKENS",
    "MESSAGE_TOKENS",
    "CachePoint",
    "PromptTokens",
    "count_input_tokens",
    "measure_prompt",
    "text_tokens",
]

BASE_TOKENS = 4
MESSAGE_TOKENS = 3
MEDIA_TOKENS = 1000


def text_tokens(text: str) -> int:
    """Tokens of a piece of text: four characters per token, rounded up."""
    return (len(text) + 3) // 4


def _json_tokens(value: Any) -> int:
    return (len(dumps_lenient(value)) + 3) // 4


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        return sum(block_tokens(block) for block in content if isinstance(block, Mapping))
    return 0


def block_tokens(block: Mapping[str, Any]) -> int:
    """Tokens of one content block in a request."""
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return text_tokens(text) if isinstance(text, str) else 0
    if kind == "tool_use":
        name = block.get("name")
        return (text_tokens(name) if isinstance(name, str) else 0) + _json_tokens(block.get("input", {}))
    if kind == "tool_result":
        return 1 + _content_tokens(block.get("content", ""))
    if kind == "thinking":
        thinking = block.get("thinking")
        return text_tokens(thinking) if isinstance(thinking, str) else 0
    if kind == "search_result":
        labels = [block.get(key) for key in ("source", "title")]
        return sum(text_tokens(label) for label in labels if isinstance(label, str)) + _content_tokens(
            block.get("content")
        )
    if kind in ("image", "document"):
        source = block.get("source")
        if (
            isinstance(source, Mapping)
            and source.get("type") == "text"
            and isinstance(source.get("data"), str)
        ):
            return text_tokens(source["data"])
        if isinstance(source, Mapping) and source.get("type") == "content":
            return _content_tokens(source.get("content"))
        return MEDIA_TOKENS
    return _json_tokens(block)


def tool_tokens(tool: Mapping[str, Any]) -> int:
    """Tokens of one tool definition."""
    if "input_schema" not in tool:
        return _json_tokens(tool)
    total = _json_tokens(tool["input_schema"])
    for key in ("name", "description"):
        value = tool.get(key)
        if isinstance(value, str):
            total += text_tokens(value)
    return total


@dataclass(frozen=True, slots=True)
class CachePoint:
    """A ``cache_control`` breakpoint: the prompt prefix up to and including the marked segment."""

    tokens: int
    digest: bytes
    ttl: str
    """``5m`` or ``1h``."""


@dataclass(frozen=True, slots=True)
class PromptTokens:
    """The input token count of a request and its cache breakpoints, in prompt order."""

    total: int
    cache_points: tuple[CachePoint, ...]


def _segments(request: Mapping[str, Any]) -> list[tuple[int, Any]]:
    """The prompt as (tokens, segment) pairs in the order the API caches it: tools, system, messages."""
    segments: list[tuple[int, Any]] = []
    tools = request.get("tools")
    if isinstance(tools, list):
        segments.extend((tool_tokens(tool), tool) for tool in tools if isinstance(tool, Mapping))
    system = request.get("system")
    if isinstance(system, str):
        segments.append((text_tokens(system), system))
    elif isinstance(system, list):
        segments.extend((block_tokens(block), block) for block in system if isinstance(block, Mapping))
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, Mapping):
                continue
            content = message.get("content")
            if isinstance(content, list) and content:
                blocks = [block for block in content if isinstance(block, Mapping)]
                for position, block in enumerate(blocks):
                    framing = MESSAGE_TOKENS if position == 0 else 0
                    segments.append((framing + block_tokens(block), (message.get("role"), block)))
                if not blocks:
                    segments.append((MESSAGE_TOKENS, (message.get("role"), None)))
            else:
                segments.append((MESSAGE_TOKENS + _content_tokens(content), (message.get("role"), content)))
    return segments


def _cache_control(segment: Any) -> Mapping[str, Any] | None:
    item = segment[1] if isinstance(segment, tuple) else segment
    if isinstance(item, Mapping):
        marker = item.get("cache_control")
        if isinstance(marker, Mapping):
            return marker
    return None


def measure_prompt(request: Mapping[str, Any]) -> PromptTokens:
    """Count a request's input tokens and find its cache breakpoints (hashes only when there are some)."""
    segments = _segments(request)
    total = BASE_TOKENS + sum(tokens for tokens, _ in segments)
    markers = [_cache_control(segment) for _, segment in segments]
    if not any(marker is not None for marker in markers):
        return PromptTokens(total, ())
    hasher = hashlib.blake2b(digest_size=20)
    running = BASE_TOKENS
    points: list[CachePoint] = []
    for (tokens, segment), marker in zip(segments, markers, strict=True):
        running += tokens
        hasher.update(dumps_lenient(segment, sort_keys=True))
        hasher.update(b"\x1e")
        if marker is not None:
            ttl = "1h" if marker.get("ttl") == "1h" else "5m"
            points.append(CachePoint(running, hasher.copy().digest(), ttl))
    return PromptTokens(total, tuple(points))


def count_input_tokens(request: Mapping[str, Any]) -> int:
    """Total input tokens of a request (cached or not), as ``count_tokens`` reports them."""
    segments = _segments(request)
    return BASE_TOKENS + sum(tokens for tokens, _ in segments)
