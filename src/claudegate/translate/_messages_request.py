"""Anthropic Messages request -> OpenAI Chat Completions request (for OpenAI-compatible upstreams)."""

from __future__ import annotations

from typing import Any

from claudegate.translate._errors import fail
from claudegate.translate._mapping import dumps
from claudegate.translate._output_format import response_format_of_request
from claudegate.translate._parts import block_to_part
from claudegate.translate._reasoning import reasoning_effort_of_thinking

__all__ = ["messages_request_to_chat"]

_ERROR_PREFIX = "Error: "


def messages_request_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """Translate an Anthropic Messages request into an OpenAI chat request.

    ``output_config.format`` (structured outputs) becomes ``response_format`` with the schema
    unchanged; ``thinking`` of type ``enabled`` becomes ``reasoning_effort`` (see
    ``EFFORT_BUDGETS``). What has no OpenAI equivalent is dropped without failing: adaptive
    thinking, thinking and redacted thinking blocks of earlier turns, ``cache_control``,
    ``top_k``, citations, server tools and their results, betas, ``context_management``,
    ``output_config.effort``, ``service_tier``. ``role: "system"`` messages inside
    ``messages`` stay system messages in place; ``tool_result`` blocks become ``tool`` messages in
    order (images in them follow in a user message, as OpenAI tool messages carry only text). A
    tool message has no error flag, so the text of a result with ``is_error: true`` starts with
    ``Error: `` (and is just ``Error`` when it has no text): the model still learns the tool failed.
    A streaming request asks for the final usage chunk (``stream_options.include_usage``).
    """
    if not isinstance(body, dict):
        raise fail("body", "the request body must be a JSON object")
    result: dict[str, Any] = {}
    if "model" in body:
        result["model"] = body["model"]
    messages: list[dict[str, Any]] = []
    system = _system_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    source = body.get("messages")
    if not isinstance(source, list):
        raise fail("messages", "must be an array")
    for i, message in enumerate(source):
        _convert_message(message, i, messages)
    result["messages"] = messages
    max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        result["max_completion_tokens"] = max_tokens
    stop = body.get("stop_sequences")
    if stop:
        result["stop"] = stop
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            result[key] = body[key]
    if body.get("stream") is True:
        result["stream"] = True
        result["stream_options"] = {"include_usage": True}
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        result["user"] = metadata["user_id"]
    effort = reasoning_effort_of_thinking(body.get("thinking"))
    if effort is not None:
        result["reasoning_effort"] = effort
    response_format = response_format_of_request(body)
    if response_format is not None:
        result["response_format"] = response_format
    _convert_tools(body, result)
    return result


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(
            block["text"]
            for block in system
            if isinstance(block, dict) and block.get("type") == "text" and block.get("text")
        )
    return ""


def _convert_message(message: Any, i: int, out: list[dict[str, Any]]) -> None:
    if not isinstance(message, dict):
        raise fail(f"messages[{i}]", "must be an object")
    role = message.get("role")
    content = message.get("content")
    if not isinstance(content, str | list):
        raise fail(f"messages[{i}].content", "must be a string or an array of content blocks")
    if role == "user":
        _convert_user(content, out)
    elif role == "assistant":
        _convert_assistant(content, out)
    elif role == "system":
        text = _system_text(content)
        if text:
            out.append({"role": "system", "content": text})
    else:
        raise fail(f"messages[{i}].role", f"unsupported role {role!r}")


def _parts_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    # A lone text part travels as a plain string: every OpenAI-compatible server accepts that.
    if len(parts) == 1 and parts[0]["type"] == "text":
        text: str = parts[0]["text"]
        return text
    return parts


def _convert_user(content: str | list[Any], out: list[dict[str, Any]]) -> None:
    if isinstance(content, str):
        out.append({"role": "user", "content": content})
        return
    parts: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            out.append(_tool_message(block, parts))
            continue
        part = block_to_part(block)
        if part is not None:
            parts.append(part)
    if parts:
        out.append({"role": "user", "content": _parts_content(parts)})


def _tool_message(block: dict[str, Any], images: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``tool`` message for a tool_result; its images go to ``images`` (for a later user message)."""
    content = block.get("content")
    text: str | list[dict[str, Any]] = ""
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for item in content:
            part = block_to_part(item) if isinstance(item, dict) else None
            if part is None:
                continue
            if part["type"] == "text":
                texts.append(part)
            else:
                images.append(part)
        text = _parts_content(texts) if texts else ""
    if block.get("is_error") is True:
        text = _as_error(text)
    return {"role": "tool", "tool_call_id": block.get("tool_use_id", ""), "content": text}


def _as_error(content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return f"{_ERROR_PREFIX}{content}" if content else _ERROR_PREFIX.rstrip(": ")
    first = content[0]
    return [{**first, "text": _ERROR_PREFIX + first["text"]}, *content[1:]]


def _convert_assistant(content: str | list[Any], out: list[dict[str, Any]]) -> None:
    if isinstance(content, str):
        if content:
            out.append({"role": "assistant", "content": content})
        return
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            arguments = dumps(block.get("input") or {})
            calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": arguments},
                }
            )
        # thinking, redacted_thinking, server tool use and results have no OpenAI form.
    # Text blocks split at citations mid-sentence, so they join without a separator.
    text = "".join(texts)
    if not text and not calls:
        return
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    out.append(message)


def _convert_tools(body: dict[str, Any], result: dict[str, Any]) -> None:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return
    functions: list[dict[str, Any]] = []
    for tool in tools:
        # Custom tools carry an input_schema; server tools (web search, bash, ...) are typed instead.
        if not isinstance(tool, dict) or "input_schema" not in tool or tool.get("type", "custom") != "custom":
            continue
        function: dict[str, Any] = {"name": tool.get("name", "")}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool["input_schema"]
        functions.append({"type": "function", "function": function})
    if not functions:
        return
    result["tools"] = functions
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "auto" or kind == "none":
        result["tool_choice"] = kind
    elif kind == "any":
        result["tool_choice"] = "required"
    elif kind == "tool":
        name = choice.get("name")
        if any(f["function"]["name"] == name for f in functions):
            result["tool_choice"] = {"type": "function", "function": {"name": name}}
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        result["parallel_tool_calls"] = False
