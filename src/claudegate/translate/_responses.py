"""Whole (non-streamed) responses: Anthropic Message <-> OpenAI chat completion."""

from __future__ import annotations

import time
from typing import Any

from claudegate.errors import StreamProtocolError
from claudegate.translate._mapping import (
    chat_citation,
    chat_id_from_message_id,
    dumps,
    finish_reason_to_stop_reason,
    message_id_from_chat_id,
    reasoning_text,
    stop_reason_to_finish_reason,
    tool_arguments,
    tool_use_id,
    usage_to_anthropic,
    usage_to_openai,
)

__all__ = ["chat_completion_to_message", "message_to_chat_completion"]


def message_to_chat_completion(
    message: dict[str, Any], *, created: int | None = None, response_tool: str | None = None
) -> dict[str, Any]:
    """Translate an Anthropic Message into an OpenAI ``chat.completion``.

    Text blocks join into ``content``; ``tool_use`` blocks become ``tool_calls`` (``arguments`` as
    compact JSON); thinking goes to ``reasoning_content``, never into ``content``, and the first
    thinking block's signature to ``reasoning_signature`` (sent back on the assistant message of a
    later turn, it rebuilds the thinking block); the text blocks' citations go to ``citations``
    (see ``chat_citation``: each with the range of ``content`` it supports); other blocks
    (redacted thinking, server tools) are dropped. A call of ``response_tool`` (see
    ``response_format_tool_name``) is the structured answer: its input becomes the text.
    ``created`` defaults to now.
    """
    texts: list[str] = []
    reasoning: list[str] = []
    signature: str | None = None
    calls: list[dict[str, Any]] = []
    citations: list[dict[str, Any]] = []
    length = 0
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            text = block.get("text", "")
            texts.append(text)
            start, length = length, length + len(text)
            for citation in block.get("citations") or ():
                citations.append(chat_citation(citation, len(citations), start, length))
        elif kind == "tool_use":
            arguments = dumps(block.get("input") or {})
            if response_tool is not None and block.get("name") == response_tool:
                texts.append(arguments)
                length += len(arguments)
                continue
            calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": arguments},
                }
            )
        elif kind == "thinking":
            if block.get("thinking"):
                reasoning.append(block["thinking"])
            if signature is None:
                signature = block.get("signature") or ""
    reply: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        reply["tool_calls"] = calls
    if citations:
        reply["citations"] = citations
    if reasoning:
        reply["reasoning_content"] = "".join(reasoning)
    if signature:
        reply["reasoning_signature"] = signature
    finish_reason = stop_reason_to_finish_reason(message.get("stop_reason"))
    if finish_reason == "tool_calls" and not calls:
        # Only the response-format tool (or a server tool) was called: the answer is complete.
        finish_reason = "stop"
    return {
        "id": chat_id_from_message_id(message.get("id")),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": message.get("model", ""),
        "choices": [{"index": 0, "message": reply, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage_to_openai(message.get("usage") or {}),
    }


def chat_completion_to_message(completion: dict[str, Any]) -> dict[str, Any]:
    """Translate an OpenAI ``chat.completion`` (first choice) into an Anthropic Message.

    ``content`` and ``refusal`` become text blocks, ``tool_calls`` become ``tool_use`` blocks with
    the parsed arguments (ids made valid for Anthropic, see ``tool_use_id``);
    ``reasoning_content`` (or ``reasoning``, as some servers name it) becomes a first thinking
    block, signed by ``reasoning_signature`` when the upstream sends one (else ``""``). The
    completion is the upstream's answer, so what breaks the protocol raises
    ``StreamProtocolError`` (a bad gateway, not the client's fault): no choice, a call that is
    not an object, ``arguments`` that are not a JSON object, two calls with one id. Only with
    ``finish_reason: "length"`` are cut ``arguments`` expected: what parses of them is kept
    (``{}`` when nothing does) and ``stop_reason`` is ``max_tokens``, as the live API reports a
    tool call cut by ``max_tokens``.
    """
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise StreamProtocolError("the upstream completion has no choice to translate")
    choice = choices[0]
    reply = choice.get("message") or {}
    blocks: list[dict[str, Any]] = []
    reasoning = reasoning_text(reply)
    if reasoning:
        signature = reply.get("reasoning_signature")
        signature = signature if isinstance(signature, str) else ""
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": signature})
    content = reply.get("content")
    if isinstance(content, str) and content:
        blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        blocks.extend(
            {"type": "text", "text": part["text"]}
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]
        )
    refusal = reply.get("refusal")
    if isinstance(refusal, str) and refusal:
        blocks.append({"type": "text", "text": refusal})
    cut = choice.get("finish_reason") == "length"
    ids: set[str] = set()
    for k, call in enumerate(reply.get("tool_calls") or ()):
        block = _tool_use(call, k, cut=cut)
        if block["id"] in ids:
            raise StreamProtocolError(f"upstream tool call {k} repeats the id {block['id']!r}")
        ids.add(block["id"])
        blocks.append(block)
    stop_reason = finish_reason_to_stop_reason(choice.get("finish_reason"))
    if ids and stop_reason == "end_turn":
        # OpenAI reports "stop" for a forced tool call; Anthropic clients run tools on "tool_use".
        stop_reason = "tool_use"
    elif not ids and stop_reason == "tool_use":
        stop_reason = "end_turn"
    return {
        "id": message_id_from_chat_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model", ""),
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage_to_anthropic(completion.get("usage")),
    }


def _tool_use(call: Any, k: int, *, cut: bool) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        raise StreamProtocolError(f"upstream tool call {k} has no function object")
    return {
        "type": "tool_use",
        "id": tool_use_id(str(call.get("id") or ""), ordinal=k),
        "name": function.get("name", ""),
        "input": tool_arguments(function.get("arguments"), cut=cut, call=k),
    }
