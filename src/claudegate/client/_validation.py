"""Checks a Messages request before it leaves the process, each failure naming the field.

Only what the API is certain to reject is refused here; anything newer or unknown is let through.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any

from claudegate.client._images import IMAGE_MEDIA_TYPES, MAX_IMAGE_BYTES, sniff_image_media_type
from claudegate.errors import UserError

__all__ = ["TOOL_NAME_PATTERN", "validate_count_tokens_request", "validate_message_request"]

TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOOL_CHOICES = ("auto", "any", "tool", "none")


def _fail(message: str, field: str) -> UserError:
    return UserError(f"{field}: {message}", field=field)


def _as_mapping(value: object) -> Mapping[str, Any] | None:
    """The value as a mapping: plain dicts first (the common, fast case), then wire models."""
    if type(value) is dict:
        return value
    to_dict = getattr(type(value), "to_dict", None)
    if to_dict is not None:
        mapped: dict[str, Any] = to_dict(value)
        return mapped
    if isinstance(value, Mapping):
        return value
    return None


def validate_message_request(body: Mapping[str, Any]) -> None:
    """Raise ``UserError`` naming the first field the API would reject."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _fail("a model name is required", "model")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _fail("must be an integer >= 1", "max_tokens")
    _check_common(body)
    stop_sequences = body.get("stop_sequences")
    if stop_sequences is not None:
        if not isinstance(stop_sequences, list):
            raise _fail("must be a list of strings", "stop_sequences")
        for i, seq in enumerate(stop_sequences):
            if not isinstance(seq, str) or not seq.strip():
                raise _fail("each stop sequence must be a non-blank string", f"stop_sequences[{i}]")
    for name, low, high in (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0)):
        value = body.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high
        ):
            raise _fail(f"must be a number between {low} and {high}", name)


def validate_count_tokens_request(body: Mapping[str, Any]) -> None:
    """The same checks for ``count_tokens`` (which has no ``max_tokens``)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _fail("a model name is required", "model")
    _check_common(body)


def _check_common(body: Mapping[str, Any]) -> None:
    tool_names = _check_tools(body.get("tools"))
    _check_tool_choice(body.get("tool_choice"), tool_names, has_tools=bool(body.get("tools")))
    _check_system(body.get("system"))
    _check_messages(body.get("messages"))


def _check_tools(tools: object) -> set[str]:
    names: set[str] = set()
    if tools is None:
        return names
    if not isinstance(tools, list):
        raise _fail("must be a list of tool definitions", "tools")
    for i, raw_tool in enumerate(tools):
        field = f"tools[{i}]"
        tool = _as_mapping(raw_tool)
        if tool is None:
            raise _fail("must be an object", field)
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME_PATTERN.match(name):
            raise _fail(
                f"invalid tool name {name!r}: use 1-64 letters, digits, '_' or '-' (^[a-zA-Z0-9_-]{{1,64}}$)",
                f"{field}.name",
            )
        if name in names:
            raise _fail(f"duplicate tool name {name!r}: tool names must be unique", f"{field}.name")
        names.add(name)
        tool_type = tool.get("type")
        if tool_type in (None, "custom"):
            schema = tool.get("input_schema")
            if not isinstance(schema, Mapping) or schema.get("type") != "object":
                raise _fail('must be a JSON schema object with "type": "object"', f"{field}.input_schema")
    return names


def _check_tool_choice(choice: object, tool_names: set[str], *, has_tools: bool) -> None:
    if choice is None:
        return
    choice = _as_mapping(choice)
    if choice is None or choice.get("type") not in _TOOL_CHOICES:
        raise _fail(f"must be an object whose type is one of {', '.join(_TOOL_CHOICES)}", "tool_choice")
    kind = choice["type"]
    if kind in ("any", "tool") and not has_tools:
        raise _fail(f"tool_choice {kind!r} needs at least one tool in 'tools'", "tool_choice")
    if kind == "tool":
        name = choice.get("name")
        if name not in tool_names:
            raise _fail(f"names tool {name!r}, which is not among the request's tools", "tool_choice.name")


def _check_system(system: object) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _fail("must be a string or a list of text blocks", "system")
    for i, block in enumerate(system):
        _check_block(block, f"system[{i}]")


def _check_messages(messages: object) -> None:
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise _fail("at least one message is required", "messages")
    pending_tool_ids: set[str] = set()
    pending_at = ""
    last = len(messages) - 1
    for i, message in enumerate(messages):
        field = f"messages[{i}]"
        role, blocks = _check_message(message, field, is_last=i == last)
        if role == "system":
            continue
        _check_tool_pairing(role, blocks, field, pending_tool_ids, pending_at)
        pending_tool_ids = {b["id"] for b in blocks if b.get("type") == "tool_use" and "id" in b}
        pending_at = field
    # A final assistant message with tool_use is a prefill the caller continues: allowed.


def _check_message(raw: object, field: str, *, is_last: bool) -> tuple[str, list[Mapping[str, Any]]]:
    """Check one message; return its role and its content blocks as mappings."""
    message = _as_mapping(raw)
    if message is None:
        raise _fail("must be an object with role and content", field)
    role = message.get("role")
    if role not in ("user", "assistant", "system"):
        raise _fail(f"role must be 'user' or 'assistant', not {role!r}", f"{field}.role")
    content = message.get("content")
    if isinstance(content, str):
        # An empty final assistant turn is allowed; any other empty text is rejected by the API.
        if not content.strip() and not (role == "assistant" and is_last and content == ""):
            raise _fail("text content must not be empty", f"{field}.content")
        return role, []
    if not isinstance(content, list):
        raise _fail("content must be a string or a list of content blocks", f"{field}.content")
    if not content:
        raise _fail("content must not be an empty list", f"{field}.content")
    return role, [_check_block(block, f"{field}.content[{j}]") for j, block in enumerate(content)]


def _check_tool_pairing(
    role: str, blocks: Sequence[Any], field: str, pending_tool_ids: set[str], pending_at: str
) -> None:
    results = {
        b.get("tool_use_id") for b in blocks if isinstance(b, Mapping) and b.get("type") == "tool_result"
    }
    if pending_tool_ids:
        missing = pending_tool_ids - results
        if role != "user" or missing:
            ids = ", ".join(sorted(missing or pending_tool_ids))
            raise _fail(
                f"tool_use id(s) {ids} from {pending_at} have no tool_result in the next user message",
                f"{field}.content",
            )
    for j, block in enumerate(blocks):
        if block.get("type") == "tool_result" and block.get("tool_use_id") not in pending_tool_ids:
            raise _fail(
                f"tool_result for id {block.get('tool_use_id')!r} answers no tool_use of the previous "
                "assistant message",
                f"{field}.content[{j}].tool_use_id",
            )


def _check_block(raw: object, field: str) -> Mapping[str, Any]:
    block = _as_mapping(raw)
    if block is None:
        raise _fail("a content block must be an object", field)
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _fail("text blocks must contain non-whitespace text", f"{field}.text")
    elif kind == "image":
        _check_image(block.get("source"), f"{field}.source")
    elif kind == "tool_result":
        tool_use_id = block.get("tool_use_id")
        if not isinstance(tool_use_id, str) or not tool_use_id:
            raise _fail("tool_use_id must be a non-empty string", f"{field}.tool_use_id")
        inner = block.get("content")
        if isinstance(inner, list):
            for k, sub in enumerate(inner):
                _check_block(sub, f"{field}.content[{k}]")
    elif kind == "tool_use":
        if _as_mapping(block.get("input")) is None:
            raise _fail("tool_use input must be an object", f"{field}.input")
    elif not isinstance(kind, str):
        raise _fail("every content block needs a string 'type'", f"{field}.type")
    return block


def _check_image(raw: object, field: str) -> None:
    source = _as_mapping(raw)
    if source is None:
        raise _fail("an image needs a source object", field)
    kind = source.get("type")
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise _fail("must be an http(s) URL", f"{field}.url")
        return
    if kind != "base64":
        return
    media_type = source.get("media_type")
    if media_type not in IMAGE_MEDIA_TYPES:
        raise _fail(
            f"unsupported image media type {media_type!r}; use one of {', '.join(IMAGE_MEDIA_TYPES)}",
            f"{field}.media_type",
        )
    data = source.get("data")
    if not isinstance(data, str) or not data:
        raise _fail("base64 image data is required", f"{field}.data")
    if len(data) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise _fail(f"image is larger than {MAX_IMAGE_BYTES} bytes (5 MiB)", f"{field}.data")
    try:
        head = base64.b64decode(data[:64], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail("image data is not valid base64", f"{field}.data") from exc
    detected = sniff_image_media_type(head)
    if detected is not None and detected != media_type:
        raise _fail(f"the image data is {detected} but media_type says {media_type}", f"{field}.media_type")
