"""Reading a request as the simulated model does: the last user turn, its tool results, the tools to call."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Turn", "choose_tools", "read_turn"]


@dataclass(frozen=True, slots=True)
class Turn:
    """What the last user turn holds."""

    text: str
    results: tuple[tuple[str, str, bool], ...]
    """``(tool name, result text, is_error)`` for each tool_result block, in order."""


# Harness context (Claude Code's ``<system-reminder>`` spans) rides in user turns but is not the
# user's words: echoing it, or calling the tools it happens to name, is not what a model does.
_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)


def _without_reminders(text: str) -> str:
    return _REMINDER.sub(" ", text).strip() if "<system-reminder>" in text else text


def _block_text(content: Any) -> str:
    if isinstance(content, str):
        return _without_reminders(content)
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if isinstance(block, Mapping):
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                text = _without_reminders(block["text"])
                if text:
                    parts.append(text)
            elif isinstance(block.get("type"), str) and block.get("type") != "tool_result":
                parts.append(f"[{block['type']}]")
    return " ".join(parts)


def read_turn(messages: list[Any]) -> Turn:
    """The text and tool results of the last user message, tool names looked up in earlier tool calls."""
    names: dict[str, str] = {}
    last: Mapping[str, Any] | None = None
    for message in messages:
        if message.get("role") == "assistant" and isinstance(message.get("content"), list):
            for block in message["content"]:
                if block.get("type") == "tool_use":
                    names[block["id"]] = block["name"]
        elif message.get("role") == "user":
            last = message
    if last is None:
        return Turn("", ())
    content = last["content"]
    results: list[tuple[str, str, bool]] = []
    if isinstance(content, list):
        for block in content:
            if block.get("type") == "tool_result":
                tool_id = block["tool_use_id"]
                text = _block_text(block.get("content", ""))
                results.append((names.get(tool_id, tool_id), text, block.get("is_error") is True))
    return Turn(_block_text(content), tuple(results))


@functools.lru_cache(maxsize=1024)
def _name_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", re.IGNORECASE)


def _named(tools: list[Mapping[str, Any]], text: str) -> list[Mapping[str, Any]]:
    found: list[tuple[int, int, Mapping[str, Any]]] = []
    for order, tool in enumerate(tools):
        match = _name_pattern(tool["name"]).search(text)
        if match is not None:
            found.append((match.start(), order, tool))
    return [tool for _, _, tool in sorted(found, key=lambda item: (item[0], item[1]))]


def choose_tools(request: Mapping[str, Any], turn: Turn, pick: int) -> list[Mapping[str, Any]]:
    """The tools the simulated model calls, in order (empty: it answers in text).

    ``tool_choice`` ``tool`` calls the named tool; ``any`` calls the tools the last user turn names
    (else the tool at ``pick`` modulo the tool count); ``auto`` calls the named tools, unless the
    turn carries tool results (then it answers); ``none`` never calls. Several named tools are
    called in parallel unless ``disable_parallel_tool_use``.
    """
    raw_tools = request.get("tools") or []
    tools = [tool for tool in raw_tools if isinstance(tool.get("input_schema"), Mapping)]
    choice = request.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type", "auto")
    if not tools or kind == "none":
        return []
    if kind == "tool":
        return [tool for tool in tools if tool["name"] == choice["name"]][:1]
    calls = _named(tools, turn.text)
    if kind == "any":
        calls = calls or [tools[pick % len(tools)]]
    elif turn.results:
        calls = []
    if choice.get("disable_parallel_tool_use") is True:
        calls = calls[:1]
    return calls
