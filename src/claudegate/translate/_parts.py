"""Content parts <-> content blocks: text, images and files, in both directions.

OpenAI content parts (``text``, ``image_url``, ``file``) become Anthropic blocks (``text``,
``image``, ``document``) and back. Nothing is fetched: an http(s) image URL stays a URL.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from claudegate.translate._errors import fail

__all__ = ["block_to_part", "cache_control_of", "part_to_block", "search_result_text", "system_blocks"]

_TTLS = ("5m", "1h")


def cache_control_of(value: Any, field: str) -> dict[str, Any]:
    """A client's ``cache_control`` (``{"type": "ephemeral", "ttl"?: "5m" | "1h"}``), checked."""
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        raise fail(field, 'must be {"type": "ephemeral"}, with an optional "ttl" of "5m" or "1h"')
    ttl = value.get("ttl")
    if ttl is None:
        return {"type": "ephemeral"}
    if ttl not in _TTLS:
        raise fail(f"{field}.ttl", 'must be "5m" or "1h"')
    return {"type": "ephemeral", "ttl": ttl}


def system_blocks(content: Any, field: str) -> list[dict[str, Any]]:
    """The text blocks of a system or developer message (a string or text parts), empty ones left out.

    A part's ``cache_control`` stays on its block.
    """
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise fail(field, "must be a string or an array of text parts")
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(text, str):
            raise fail(f"{field}[{j}]", "only text parts are allowed here")
        if text:
            block: dict[str, Any] = {"type": "text", "text": text}
            if "cache_control" in part:
                where = f"{field}[{j}].cache_control"
                block["cache_control"] = cache_control_of(part["cache_control"], where)
            blocks.append(block)
    return blocks


def part_to_block(part: Any, field: str) -> dict[str, Any] | None:
    """One OpenAI content part as an Anthropic content block (None for an empty text part).

    A part's ``cache_control`` (a prompt-cache breakpoint, as Anthropic-aware OpenAI clients send
    it) stays on its block.
    """
    block = _part_to_block(part, field)
    if block is not None and "cache_control" in part:
        block["cache_control"] = cache_control_of(part["cache_control"], f"{field}.cache_control")
    return block


def _part_to_block(part: Any, field: str) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        raise fail(field, "a content part must be an object")
    kind = part.get("type")
    if kind == "text" or kind == "refusal":
        text = part.get(kind)
        if not isinstance(text, str):
            raise fail(f"{field}.{kind}", "must be a string")
        return {"type": "text", "text": text} if text else None
    if kind == "image_url":
        return _image_block(part.get("image_url"), f"{field}.image_url")
    if kind == "file":
        return _document_block(part.get("file"), f"{field}.file")
    if kind == "input_audio":
        raise fail(field, "audio input cannot be sent to Claude")
    raise fail(f"{field}.type", f"unsupported content part type {kind!r}")


def _parse_data_url(url: str, field: str) -> tuple[str, str]:
    header, comma, data = url[5:].partition(",")
    params = header.split(";")
    if not comma or "base64" not in params[1:]:
        raise fail(field, "a data: URL must be base64-encoded (data:<media type>;base64,<data>)")
    media_type = params[0].strip().lower()
    if not media_type:
        raise fail(field, "a data: URL must name its media type")
    return media_type, data


def _image_block(spec: Any, field: str) -> dict[str, Any]:
    # Some clients send the URL string itself instead of {"url": ...}.
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise fail(f"{field}.url", "must be a non-empty string")
    scheme = url[:8].lower()
    if scheme.startswith("data:"):
        media_type, data = _parse_data_url(url, f"{field}.url")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if scheme.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise fail(f"{field}.url", "must be an http(s) URL or a base64 data: URL")


def _document_block(spec: Any, field: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise fail(field, "must be an object")
    data = spec.get("file_data")
    if not isinstance(data, str) or not data:
        if spec.get("file_id") is not None:
            raise fail(f"{field}.file_id", "uploaded file ids cannot be sent to Claude: send file_data")
        raise fail(f"{field}.file_data", "must be a non-empty string")
    if data[:5].lower() == "data:":
        media_type, data = _parse_data_url(data, f"{field}.file_data")
    else:
        # OpenAI documents bare base64 here too, and only accepts PDFs as files.
        media_type = "application/pdf"
    if media_type == "text/plain":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise fail(f"{field}.file_data", f"is not base64-encoded UTF-8 text ({exc})") from None
        source: dict[str, Any] = {"type": "text", "media_type": "text/plain", "data": text}
    else:
        source = {"type": "base64", "media_type": media_type, "data": data}
    block: dict[str, Any] = {"type": "document", "source": source}
    filename = spec.get("filename")
    if isinstance(filename, str) and filename:
        block["title"] = filename
    return block


def _data_url(source: dict[str, Any]) -> str:
    return f"data:{source.get('media_type', '')};base64,{source.get('data', '')}"


def search_result_text(block: dict[str, Any]) -> str:
    """A ``search_result`` block as plain text for a model that takes no such blocks: a header
    naming its source and title (what such a model can cite), then its texts.

    >>> search_result_text({"type": "search_result", "source": "guide.md#0", "title": "guide.md",
    ...                     "content": [{"type": "text", "text": "Budgets cap spending."}]})
    'Search result (source: guide.md#0; title: guide.md)\nBudgets cap spending.'
    """
    content = block.get("content")
    texts = [
        item["text"]
        for item in content or ()
        if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str)
    ]
    return (
        f"Search result (source: {block.get('source', '')}; title: {block.get('title', '')})\n"
        + "\n\n".join(texts)
    )


def block_to_part(block: dict[str, Any]) -> dict[str, Any] | None:
    """One Anthropic user content block as an OpenAI content part (None when it cannot map); a
    ``search_result`` becomes a text part (see ``search_result_text``)."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block.get("text", "")}
    if kind == "search_result":
        return {"type": "text", "text": search_result_text(block)}
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    source_type = source.get("type")
    if kind == "image":
        if source_type == "base64":
            return {"type": "image_url", "image_url": {"url": _data_url(source)}}
        if source_type == "url":
            return {"type": "image_url", "image_url": {"url": source.get("url", "")}}
        return None
    if kind == "document":
        if source_type == "base64":
            title = block.get("title")
            filename = title if isinstance(title, str) and title else "document.pdf"
            return {"type": "file", "file": {"filename": filename, "file_data": _data_url(source)}}
        if source_type == "text":
            return {"type": "text", "text": source.get("data", "")}
    return None
