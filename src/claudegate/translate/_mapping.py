"""Small mappings shared by requests, responses and streams: stop reasons, usage, ids, JSON."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson

from claudegate.errors import StreamProtocolError
from claudegate.sse import parse_partial_json

__all__ = [
    "FINISH_REASONS",
    "chat_citation",
    "chat_id_from_message_id",
    "dumps",
    "finish_reason_to_stop_reason",
    "message_id_from_chat_id",
    "reasoning_text",
    "stop_reason_to_finish_reason",
    "tool_arguments",
    "tool_use_id",
    "usage_to_anthropic",
    "usage_to_openai",
]

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
"""Every ``finish_reason`` OpenAI documents (``function_call`` is the deprecated spelling)."""

_FINISH_BY_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_STOP_BY_FINISH = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason_to_finish_reason(stop_reason: str | None) -> str:
    """Anthropic ``stop_reason`` -> OpenAI ``finish_reason``, always one of the documented values.

    A stop reason this table does not know (a newer API value, or none) maps to ``"stop"``: a
    client must never see an invented ``finish_reason``.
    """
    return _FINISH_BY_STOP.get(stop_reason or "", "stop")


def finish_reason_to_stop_reason(finish_reason: str | None) -> str:
    """OpenAI ``finish_reason`` -> Anthropic ``stop_reason``; an unknown one maps to ``end_turn``."""
    return _STOP_BY_FINISH.get(finish_reason or "", "end_turn")


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) else 0


def usage_to_openai(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic usage -> OpenAI usage: prompt tokens count cached reads and cache writes once each."""
    cache_read = _count(usage, "cache_read_input_tokens")
    prompt = _count(usage, "input_tokens") + _count(usage, "cache_creation_input_tokens") + cache_read
    completion = _count(usage, "output_tokens")
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }
    details = usage.get("output_tokens_details")
    if isinstance(details, Mapping) and isinstance(details.get("thinking_tokens"), int):
        result["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return result


def usage_to_anthropic(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage -> Anthropic usage: cached prompt tokens are cache reads, the rest is input."""
    if not usage:
        return {"input_tokens": 0, "output_tokens": 0}
    details = usage.get("prompt_tokens_details")
    cached = _count(details, "cached_tokens") if isinstance(details, Mapping) else 0
    return {
        "input_tokens": max(_count(usage, "prompt_tokens") - cached, 0),
        "output_tokens": _count(usage, "completion_tokens"),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def reasoning_text(delta: Mapping[str, Any]) -> str:
    """An OpenAI message's or delta's reasoning: ``reasoning_content`` (DeepSeek, vLLM, this
    gateway), else ``reasoning`` when it is a string (newer vLLM, OpenRouter); ``""`` when none."""
    text = delta.get("reasoning_content")
    if text is None:
        text = delta.get("reasoning")
    return text if isinstance(text, str) else ""


def chat_citation(citation: Any, index: int, start: int, end: int) -> dict[str, Any]:
    """An Anthropic citation as an entry of a chat message's ``citations`` (claudegate's extension):
    the citation's own fields, ``index`` (its place in the list, by which stream deltas
    accumulate), and ``start_index``/``end_index``, the characters of ``content`` it supports."""
    fields = citation if isinstance(citation, Mapping) else {}
    return {"index": index, **fields, "start_index": start, "end_index": end}


def chat_id_from_message_id(message_id: Any) -> str:
    """``msg_X`` -> ``chatcmpl-X``: the same message keeps a recognisable id in both dialects."""
    text = message_id if isinstance(message_id, str) else ""
    if text.startswith("chatcmpl-"):
        return text
    return "chatcmpl-" + (text[4:] if text.startswith("msg_") else text)


def message_id_from_chat_id(chat_id: Any) -> str:
    """``chatcmpl-X`` -> ``msg_X`` (the inverse of ``chat_id_from_message_id``)."""
    text = chat_id if isinstance(chat_id, str) else ""
    if text.startswith("msg_"):
        return text
    return "msg_" + (text[9:] if text.startswith("chatcmpl-") else text)


_TOOL_ID_OK = re.compile(r"[A-Za-z0-9_-]+")
_TOOL_ID_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def tool_use_id(call_id: str, *, ordinal: int = 0) -> str:
    """An OpenAI tool call id as a valid Anthropic ``tool_use`` id.

    Anthropic only accepts ``[A-Za-z0-9_-]+``; some OpenAI-compatible servers use other characters.
    A valid id is kept; any other has those characters replaced and a short hash of the original
    appended, so ids that clean up alike (``a.b``, ``a:b``) stay apart. The rewrite is
    deterministic, so a call and its result still pair up. A call without an id (some servers send
    none) is ``toolu_<ordinal>``, its position among the tool calls of its message.
    """
    if not call_id:
        return f"toolu_{ordinal}"
    if _TOOL_ID_OK.fullmatch(call_id):
        return call_id
    digest = hashlib.blake2b(call_id.encode(), digest_size=4).hexdigest()
    return f"{_TOOL_ID_BAD_CHARS.sub('_', call_id)}_{digest}"


def tool_arguments(arguments: Any, *, cut: bool, call: int) -> dict[str, Any]:
    """An upstream tool call's ``arguments`` as a tool input; ``StreamProtocolError`` when unusable.

    They must form a JSON object, except when ``cut`` (the answer hit its token limit): then what
    parses of them is kept, and ``{}`` when nothing does. ``call`` numbers the call in the error.
    """
    if isinstance(arguments, dict):  # some servers send the object itself
        return arguments
    text = arguments if isinstance(arguments, str) else ""
    try:
        parsed = orjson.loads(text) if text.strip() else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    if cut and parsed is None:
        if not text.strip():
            return {}
        try:
            partial = parse_partial_json(text)
        except ValueError:
            partial = None
        if isinstance(partial, dict):
            return partial
    raise StreamProtocolError(
        f"upstream tool call {call} sent arguments that are not a JSON object: {str(arguments)[:200]!r}"
    )


def dumps(value: Any) -> str:
    """Compact JSON text (tool call ``arguments`` are sent this way)."""
    return orjson.dumps(value).decode()
