"""OpenAI Responses ``input`` items -> Anthropic messages (and a reasoning item's opaque replay token).

Messages (string or parts), ``function_call`` and ``function_call_output`` items become user and
assistant messages with ``tool_use`` / ``tool_result`` blocks, consecutive items of one role
merged (Anthropic alternates roles, and a call's result must follow its call's message).
System and developer messages are returned apart, to be hoisted into ``system``.

A ``reasoning`` item is replayed as the thinking block it came from only when it carries the
``encrypted_content`` this gateway issued (``thinking_token``): a thinking block is only valid with
its exact text and signature, which a summary alone cannot give back.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from claudegate.translate._errors import TranslationError, fail
from claudegate.translate._mapping import tool_use_id
from claudegate.translate._parts import part_to_block

__all__ = [
    "append_message",
    "check_pairs",
    "conversation_with",
    "input_to_messages",
    "thinking_from_token",
    "thinking_token",
]

_TOKEN_PREFIX = "cgr1."
_ROLES = frozenset({"user", "assistant", "system", "developer"})


def thinking_token(block: dict[str, Any]) -> str:
    """The ``encrypted_content`` of a reasoning item: its thinking block, whole, opaque to clients."""
    kept = {key: block[key] for key in ("type", "thinking", "signature", "data") if key in block}
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(orjson.dumps(kept)).decode()


def thinking_from_token(token: Any, field: str) -> dict[str, Any] | None:
    """The thinking block a ``thinking_token`` holds (None for content another server encrypted)."""
    if not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX):
        return None
    try:
        block = orjson.loads(base64.urlsafe_b64decode(token[len(_TOKEN_PREFIX) :]))
    except (binascii.Error, ValueError):
        raise fail(field, "is not reasoning content this gateway issued") from None
    if not isinstance(block, dict) or block.get("type") not in ("thinking", "redacted_thinking"):
        raise fail(field, "is not reasoning content this gateway issued")
    return block


def append_message(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Add ``blocks`` as a ``role`` message, merged into the last message when it has that role."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        last = messages[-1]
        content = last["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}] if content else []
        last["content"] = [*content, *blocks]
        return
    messages.append({"role": role, "content": blocks})


def conversation_with(messages: list[dict[str, Any]], reply: dict[str, Any]) -> list[dict[str, Any]]:
    """``messages`` followed by the assistant ``reply`` (merged into a trailing assistant message,
    left out when empty): the conversation a later ``previous_response_id`` continues."""
    conversation = list(messages)
    content = reply.get("content")
    if isinstance(content, list):
        append_message(conversation, "assistant", [block for block in content if isinstance(block, dict)])
    return conversation


def input_to_messages(value: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """``input`` (a string or a list of items) as (system texts, Anthropic messages whose content is
    always a list of blocks)."""
    if isinstance(value, str):
        return [], [{"role": "user", "content": [{"type": "text", "text": value}]}] if value else []
    if not isinstance(value, list):
        raise fail("input", "must be a string or an array of input items")
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        field = f"input[{i}]"
        if not isinstance(item, dict):
            raise fail(field, "must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            _message(item, field, system, messages)
        elif kind == "function_call":
            append_message(messages, "assistant", [_tool_use(item, field)])
        elif kind == "function_call_output":
            append_message(messages, "user", [_tool_result(item, field)])
        elif kind == "reasoning":
            block = thinking_from_token(item.get("encrypted_content"), f"{field}.encrypted_content")
            if block is not None:
                append_message(messages, "assistant", [block])
        else:
            raise fail(
                f"{field}.type",
                f"input items of type {kind!r} cannot be served: send messages, function_call, "
                "function_call_output and reasoning items",
            )
    return system, messages


def _message(item: dict[str, Any], field: str, system: list[str], messages: list[dict[str, Any]]) -> None:
    role = item.get("role")
    if not isinstance(role, str) or role not in _ROLES:  # a dict is no role (nor hashable)
        raise fail(f"{field}.role", "must be 'user', 'assistant', 'system' or 'developer'")
    content = item.get("content")
    if role == "system" or role == "developer":
        text = content if isinstance(content, str) else "\n".join(_texts(content, f"{field}.content"))
        if text:
            system.append(text)
        return
    if isinstance(content, str):
        if content:
            append_message(messages, role, [{"type": "text", "text": content}])
        return
    if not isinstance(content, list):
        raise fail(f"{field}.content", "must be a string or an array of content parts")
    blocks = [block for j, part in enumerate(content) if (block := _part(part, f"{field}.content[{j}]"))]
    append_message(messages, role, blocks)


def _texts(content: Any, field: str) -> list[str]:
    if not isinstance(content, list):
        raise fail(field, "must be a string or an array of text parts")
    texts = []
    for j, part in enumerate(content):
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(text, str):
            raise fail(f"{field}[{j}]", "only text parts are allowed here")
        texts.append(text)
    return texts


def _part(part: Any, field: str) -> dict[str, Any] | None:
    """One Responses content part as an Anthropic block (None for empty text)."""
    if not isinstance(part, dict):
        raise fail(field, "must be an object")
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        text = part.get("text")
        if not isinstance(text, str):
            raise fail(f"{field}.text", "must be a string")
        block: dict[str, Any] | None = {"type": "text", "text": text} if text else None
    elif kind == "refusal":
        refusal = part.get("refusal")
        if not isinstance(refusal, str):
            raise fail(f"{field}.refusal", "must be a string")
        block = {"type": "text", "text": refusal} if refusal else None
    elif kind == "input_image":
        if part.get("image_url") is None and part.get("file_id") is not None:
            raise fail(f"{field}.file_id", "uploaded file ids cannot be sent upstream: send image_url")
        block = part_to_block({"type": "image_url", "image_url": {"url": part.get("image_url")}}, field)
    elif kind == "input_file":
        if part.get("file_url") is not None:
            raise fail(f"{field}.file_url", "file URLs are not fetched: send file_data")
        spec = {key: part[key] for key in ("file_data", "file_id", "filename") if key in part}
        block = part_to_block({"type": "file", "file": spec}, field)
    else:
        raise fail(f"{field}.type", f"unsupported content part type {kind!r}")
    if block is not None and isinstance(part.get("prompt_cache_breakpoint"), dict):
        block["cache_control"] = {"type": "ephemeral"}
    return block


def _call_id(item: dict[str, Any], field: str) -> str:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise fail(f"{field}.call_id", "must be a non-empty string")
    return tool_use_id(call_id)


def _tool_use(item: dict[str, Any], field: str) -> dict[str, Any]:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise fail(f"{field}.name", "must be a non-empty string")
    arguments = item.get("arguments")
    if not isinstance(arguments, str) or not arguments.strip():
        raise fail(f"{field}.arguments", 'must be a JSON object in a string (use "{}" for no arguments)')
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise fail(f"{field}.arguments", f"is not valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise fail(f"{field}.arguments", "must encode a JSON object")
    return {"type": "tool_use", "id": _call_id(item, field), "name": name, "input": parsed}


def _tool_result(item: dict[str, Any], field: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": _call_id(item, field)}
    output = item.get("output")
    if isinstance(output, str):
        if output:
            block["content"] = output
    elif isinstance(output, list):
        parts = [part for j, raw in enumerate(output) if (part := _part(raw, f"{field}.output[{j}]"))]
        if parts:
            block["content"] = parts
    else:
        raise fail(f"{field}.output", "must be a string or an array of content parts")
    return block


def check_pairs(messages: list[dict[str, Any]]) -> None:
    """Raise when a ``function_call_output`` answers no call of the assistant message before it."""
    previous: set[str] = set()
    for message in messages:
        content = message["content"]
        blocks = content if isinstance(content, list) else []
        if message["role"] == "user":
            for block in blocks:
                if block.get("type") == "tool_result" and block["tool_use_id"] not in previous:
                    raise TranslationError(
                        f"input: no function_call with call_id {block['tool_use_id']!r} comes right before "
                        "its function_call_output (send the call, or previous_response_id of the "
                        "response that made it)",
                        field="input",
                    )
            previous = set()
        else:
            previous = {block["id"] for block in blocks if block.get("type") == "tool_use"}
