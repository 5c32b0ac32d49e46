"""Anthropic Message -> OpenAI Responses ``response`` object, and the output items it is made of.

Each Anthropic block becomes an output item in order: a run of text blocks is one ``message`` item
(one ``output_text`` part per block), ``tool_use`` a ``function_call`` (``call_id`` is the
``tool_use`` id), thinking (and redacted thinking) a ``reasoning`` item whose
``encrypted_content`` holds the block itself, signature and all, opaque to the client. Server-tool blocks have
no Responses item and are left out. Item ids derive from the response id and the item's position,
so a stream and its final ``response.completed`` name every item alike.

The ``stop_reason`` sets ``status``: ``max_tokens`` (and a full context window) is ``incomplete``
with ``max_output_tokens``, ``refusal`` is ``incomplete`` with ``content_filter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claudegate.translate._mapping import dumps
from claudegate.translate._responses_input import thinking_token

__all__ = [
    "ResponseShell",
    "function_call_item",
    "message_item",
    "message_to_response",
    "output_items",
    "output_text_part",
    "reasoning_item",
    "response_object",
    "response_shell",
    "response_status",
    "response_usage",
]

_INCOMPLETE = {
    "max_tokens": "max_output_tokens",
    "model_context_window_exceeded": "max_output_tokens",
    "refusal": "content_filter",
}


@dataclass(frozen=True, slots=True)
class ResponseShell:
    """What a response object says before its answer is known: its id, its time, what it echoes of
    the request (``fields``), and how reasoning items are shown."""

    id: str
    created_at: int
    fields: dict[str, Any]
    summary: bool = False
    """Reasoning items carry the thinking as ``summary_text`` (``reasoning.summary`` was asked)."""

    def item_id(self, prefix: str, index: int) -> str:
        """The id of the output item at ``index`` (``msg``, ``fc`` or ``rs`` ``prefix``)."""
        return f"{prefix}_{self.id.removeprefix('resp_')}{index:03d}"


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _echo_tools(tools: Any) -> list[Any]:
    if not isinstance(tools, list):
        return []
    return [
        {"description": None, "parameters": None, **tool, "strict": tool.get("strict", True)}
        if isinstance(tool, dict)
        else tool
        for tool in tools
    ]


def response_shell(
    body: Mapping[str, Any], *, response_id: str, created_at: int, store: bool
) -> ResponseShell:
    """The shell of the response to ``body`` (a Responses request already checked by
    ``responses_request_to_messages``)."""
    reasoning = _object(body.get("reasoning"))
    summary = reasoning.get("summary", reasoning.get("generate_summary"))
    effort = reasoning.get("effort")
    if effort is None and summary is not None:
        effort = "medium"
    text_format = _object(_object(body.get("text")).get("format")) or {"type": "text"}
    if text_format.get("type") == "json_schema":
        text_format = {"strict": True, "description": None, **text_format}
    temperature, top_p = body.get("temperature"), body.get("top_p")
    fields = {
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_retention": body.get("prompt_cache_retention"),
        "reasoning": {"effort": effort, "summary": summary},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": store,
        "temperature": 1.0 if temperature is None else temperature,
        "text": {"format": text_format, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": _echo_tools(body.get("tools")),
        "top_logprobs": 0,
        "top_p": 1.0 if top_p is None else top_p,
        "truncation": "disabled",
        "user": body.get("user"),
    }
    return ResponseShell(response_id, created_at, fields, summary is not None)


def response_object(
    shell: ResponseShell,
    *,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """The ``response`` object in one state (``in_progress`` while streaming, then final)."""
    response: dict[str, Any] = {
        "id": shell.id,
        "object": "response",
        "created_at": shell.created_at,
        "status": status,
        **shell.fields,
        "model": model,
        "output": output,
        "usage": usage,
    }
    if incomplete_reason is not None:
        response["incomplete_details"] = {"reason": incomplete_reason}
    if error is not None:
        response["error"] = error
    response["completed_at"] = completed_at if status == "completed" else None
    return response


def response_status(stop_reason: Any) -> tuple[str, str | None]:
    """``(status, incomplete_details.reason)`` for an Anthropic ``stop_reason``."""
    reason = _INCOMPLETE.get(stop_reason) if isinstance(stop_reason, str) else None
    return ("incomplete", reason) if reason is not None else ("completed", None)


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) else 0


def response_usage(usage: Mapping[str, Any], thinking_chars: int = 0) -> dict[str, Any]:
    """Anthropic usage as Responses usage: input counts cache reads and writes, ``cached_tokens``
    the reads. ``reasoning_tokens`` is the upstream's thinking count when it gives one, else
    ``ceil(thinking_chars / 4)`` (an estimate), never more than the output."""
    cache_read = _count(usage, "cache_read_input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    input_tokens = _count(usage, "input_tokens") + cache_read + cache_write
    output_tokens = _count(usage, "output_tokens")
    details = usage.get("output_tokens_details")
    reasoning = details.get("thinking_tokens") if isinstance(details, Mapping) else None
    if not isinstance(reasoning, int):
        reasoning = -(-thinking_chars // 4)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": min(reasoning, output_tokens)},
        "total_tokens": input_tokens + output_tokens,
    }


def output_text_part(text: str) -> dict[str, Any]:
    """An ``output_text`` content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(
    shell: ResponseShell, index: int, content: list[dict[str, Any]], status: str
) -> dict[str, Any]:
    """An assistant ``message`` output item."""
    return {
        "id": shell.item_id("msg", index),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def function_call_item(
    shell: ResponseShell, index: int, block: Mapping[str, Any], arguments: str, status: str
) -> dict[str, Any]:
    """A ``function_call`` output item for a ``tool_use`` block (``arguments`` as JSON text)."""
    return {
        "id": shell.item_id("fc", index),
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": block.get("id", ""),
        "name": block.get("name", ""),
    }


def reasoning_item(shell: ResponseShell, index: int, block: Mapping[str, Any] | None) -> dict[str, Any]:
    """A ``reasoning`` output item for a thinking block (None: its start, before any text)."""
    item: dict[str, Any] = {"id": shell.item_id("rs", index), "type": "reasoning", "summary": []}
    if block is None:
        return item
    if shell.summary and block.get("type") == "thinking":
        item["summary"] = [{"type": "summary_text", "text": block.get("thinking") or ""}]
    # Always, not only when ``include`` asks: clients that send output items back as input (the
    # Agents SDK does) keep the thinking block an Anthropic upstream needs before a tool call.
    item["encrypted_content"] = thinking_token(dict(block))
    return item


def output_items(shell: ResponseShell, content: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    """The output items of an answer's content blocks (the last one ``incomplete`` when it was cut)."""
    items: list[dict[str, Any]] = []
    message: dict[str, Any] | None = None
    for block in content:
        kind = block.get("type")
        if kind == "text":
            if message is None:
                message = message_item(shell, len(items), [], "completed")
                items.append(message)
            message["content"].append(output_text_part(block.get("text", "")))
            continue
        message = None
        if kind == "tool_use":
            arguments = dumps(block.get("input") or {})
            items.append(function_call_item(shell, len(items), block, arguments, "completed"))
        elif kind == "thinking" or kind == "redacted_thinking":
            items.append(reasoning_item(shell, len(items), block))
    if status == "incomplete" and items and "status" in items[-1]:
        items[-1]["status"] = "incomplete"
    return items


def message_to_response(
    message: Mapping[str, Any], shell: ResponseShell, *, completed_at: int | None = None
) -> dict[str, Any]:
    """The whole ``response`` object for an Anthropic Message."""
    content = [block for block in message.get("content") or () if isinstance(block, dict)]
    status, reason = response_status(message.get("stop_reason"))
    thinking_chars = sum(
        len(block.get("thinking") or "") for block in content if block.get("type") == "thinking"
    )
    return response_object(
        shell,
        model=str(message.get("model", "")),
        status=status,
        output=output_items(shell, content, status),
        usage=response_usage(message.get("usage") or {}, thinking_chars),
        incomplete_reason=reason,
        completed_at=completed_at,
    )
