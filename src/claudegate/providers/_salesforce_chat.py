"""The Salesforce Models API ``chat-generations`` wire format, to and from canonical Messages (pure).

A canonical request becomes ``{"messages": [{"role", "content"}], "localization": {...}}``: the
system prompt is a leading ``system`` message and every turn is plain text, because the endpoint
carries nothing else. What it cannot carry is refused with a ``UserError`` naming the field
(``tools``, ``tool_choice``, ``mcp_servers``, ``messages[1].content[0]``), so the caller hears
why instead of getting an answer to a different question. Sampling settings (``max_tokens``,
``temperature``, ``top_p``, ``top_k``) have no field in the body and are not sent;
``stop_sequences`` are applied to the answer here. Thinking blocks in the history are left out
(they are the model's private notes).

The answer's first generation becomes a canonical Message with one text block; ``finish_reason``
maps to ``stop_reason`` (OpenAI's spelling, which the endpoint reports, and Anthropic's own); the
usage is read by ``_salesforce_usage``, which knows the several spellings it comes in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from claudegate.errors import StreamProtocolError, UserError
from claudegate.translate import finish_reason_to_stop_reason, search_result_text

__all__ = [
    "DEFAULT_MODEL_MAP",
    "chat_generations_body",
    "chat_generations_to_message",
    "salesforce_model_name",
]

_PREFIX = "sfdc_ai__DefaultBedrockAnthropicClaude"
DEFAULT_MODEL_MAP: Mapping[str, str] = {
    "claude-opus-4-6": _PREFIX + "46Opus",
    "claude-sonnet-4-6": _PREFIX + "46Sonnet",
    "claude-opus-4-5": _PREFIX + "45Opus",
    "claude-opus-4-5-20251101": _PREFIX + "45Opus",
    "claude-sonnet-4-5": _PREFIX + "45Sonnet",
    "claude-sonnet-4-5-20250929": _PREFIX + "45Sonnet",
    "claude-haiku-4-5": _PREFIX + "45Haiku",
    "claude-haiku-4-5-20251001": _PREFIX + "45Haiku",
    "claude-sonnet-4-0": _PREFIX + "4Sonnet",
    "claude-sonnet-4-20250514": _PREFIX + "4Sonnet",
    "claude-3-7-sonnet-20250219": _PREFIX + "37Sonnet",
    "claude-3-7-sonnet-latest": _PREFIX + "37Sonnet",
    "claude-3-haiku-20240307": _PREFIX + "3Haiku",
}
"""Anthropic model names to the API names of Salesforce's Claude models on Amazon Bedrock."""

_ANTHROPIC_STOPS = frozenset({"end_turn", "max_tokens", "stop_sequence", "refusal"})
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
_TOOL_BLOCKS = frozenset(
    {
        "tool_use",
        "tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
    }
)
_FILE_BLOCKS = frozenset({"image", "document", "container_upload"})


def salesforce_model_name(model: str, model_map: Mapping[str, str]) -> str:
    """The Salesforce API name for ``model``; a name the map does not know is used as it is."""
    return model_map.get(model, model)


def _unsupported(field: str, what: str) -> UserError:
    return UserError(
        f"{field}: {what} not supported by the Salesforce Models API, whose chat-generations "
        "endpoint takes plain text turns only; route this request to another upstream",
        field=field,
    )


def _check_tools(body: Mapping[str, Any]) -> None:
    if body.get("tools"):
        raise _unsupported("tools", "tools are")
    if body.get("mcp_servers"):
        raise _unsupported("mcp_servers", "MCP servers (remote tools) are")
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") in ("any", "tool"):
        raise _unsupported("tool_choice", "forcing a tool call is")


def _text_of(content: Any, field: str) -> str:
    """The text of a ``content`` value (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, Sequence):
        raise UserError(f"{field}: must be a string or a list of content blocks", field=field)
    texts: list[str] = []
    for position, block in enumerate(content):
        where = f"{field}[{position}]"
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "search_result":
            texts.append(search_result_text(block))
        elif kind in _SKIPPED_BLOCKS:
            continue
        elif kind in _TOOL_BLOCKS:
            raise _unsupported(where, f"{kind} blocks (tools) are")
        elif kind in _FILE_BLOCKS:
            raise _unsupported(where, f"{kind} blocks are")
        else:
            raise _unsupported(where, f"content blocks of type {kind!r} are")
    return "\n\n".join(texts)


def chat_generations_body(body: Mapping[str, Any], *, locale: str = "en_US") -> dict[str, Any]:
    """The ``chat-generations`` request body for a canonical Messages request.

    Raises ``UserError`` (with ``field``) for what the endpoint cannot carry: tools, images,
    documents, tool calls and results in the history. ``search_result`` blocks travel as text
    naming their source (``search_result_text``).
    """
    _check_tools(body)
    messages: list[dict[str, str]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text_of(system, "system")})
    turns = body.get("messages")
    if not isinstance(turns, Sequence) or isinstance(turns, str):
        raise UserError("messages: must be a list of messages", field="messages")
    for index, turn in enumerate(turns):
        role = turn.get("role") if isinstance(turn, Mapping) else None
        if role not in ("user", "assistant"):
            raise UserError(
                f"messages[{index}].role: must be 'user' or 'assistant'", field=f"messages[{index}]"
            )
        text = _text_of(turn.get("content", ""), f"messages[{index}].content")
        if text or role == "user":
            messages.append({"role": role, "content": text})
    return {
        "messages": messages,
        "localization": {
            "defaultLocale": locale,
            "inputLocales": [{"locale": locale, "probability": 1.0}],
            "expectedLocales": [locale],
        },
    }


def _stop_reason(finish_reason: Any) -> str:
    """The canonical ``stop_reason`` for a generation's ``finish_reason`` (either dialect's spelling)."""
    value = finish_reason.lower() if isinstance(finish_reason, str) else ""
    if value in _ANTHROPIC_STOPS:
        return value
    return finish_reason_to_stop_reason(value)


def _message_id(answer_id: Any, content: str) -> str:
    if isinstance(answer_id, str) and answer_id:
        return "msg_" + "".join(char for char in answer_id if char.isalnum())
    # No id from the upstream: a stable one from the text, so retries of one answer match.
    return "msg_" + hashlib.blake2b(content.encode(), digest_size=12).hexdigest()


def _apply_stop_sequences(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    cut, found = len(text), None
    for stop in stops:
        at = text.find(stop) if stop else -1
        if 0 <= at < cut:
            cut, found = at, stop
    return text[:cut], found


def chat_generations_to_message(
    answer: Any, *, model: str, usage: Mapping[str, int], stop_sequences: Sequence[str] = ()
) -> dict[str, Any]:
    """A canonical Message from a ``chat-generations`` answer (its first generation) and its
    ``usage`` (read with ``_salesforce_usage.usage_of``).

    ``stop_sequences`` are applied to the text, as the endpoint has no field for them: the text
    ends before the first one found and ``stop_reason`` is ``stop_sequence``. A 2xx answer without
    a generation breaks the upstream's protocol: ``StreamProtocolError``.
    """
    details = answer.get("generationDetails") if isinstance(answer, Mapping) else None
    if not isinstance(details, Mapping):
        raise StreamProtocolError("the Salesforce answer has no generationDetails")
    generations = details.get("generations")
    if not isinstance(generations, list) or not generations or not isinstance(generations[0], Mapping):
        raise StreamProtocolError("the Salesforce answer has no generationDetails.generations[0]")
    generation = generations[0]
    content = generation.get("content")
    if not isinstance(content, str):
        raise StreamProtocolError("the Salesforce generation has no text content")
    parameters = generation.get("parameters")
    finish = parameters.get("finish_reason") if isinstance(parameters, Mapping) else None
    text, stop = _apply_stop_sequences(content, stop_sequences)
    return {
        "id": _message_id(answer.get("id"), content),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": "stop_sequence" if stop is not None else _stop_reason(finish),
        "stop_sequence": stop,
        "usage": dict(usage),
    }
