"""OpenAI Chat Completions request -> Anthropic Messages request."""

from __future__ import annotations

from typing import Any

import orjson

from claudegate.translate._chat_tools import convert_tools
from claudegate.translate._errors import TranslationError, fail
from claudegate.translate._mapping import tool_use_id
from claudegate.translate._output_format import output_format_of_response_format
from claudegate.translate._parts import cache_control_of, part_to_block, system_blocks
from claudegate.translate._reasoning import thinking_of_chat_request

__all__ = ["chat_request_to_messages"]

# A tool call awaiting its result: call id -> (message index, position in tool_calls).
_Pending = dict[str, tuple[int, int]]
_Content = str | list[dict[str, Any]]


def chat_request_to_messages(body: dict[str, Any], *, default_max_tokens: int = 4096) -> dict[str, Any]:
    """Translate an OpenAI chat request into an Anthropic Messages request.

    System and developer messages are hoisted into ``system``; tool calls and tool results become
    ``tool_use`` / ``tool_result`` blocks; consecutive messages of one role are merged. Fields with
    no Anthropic meaning (logprobs, seed, penalties, logit_bias, audio, store, metadata, ...) are
    dropped, and so is ``stream_options`` (read ``include_usage`` from ``body`` when translating
    the response). ``n > 1`` and anything that would change the meaning of the conversation raise
    ``TranslationError``. ``temperature`` is capped at 1 (Anthropic's maximum). The result may
    share nested objects (tool schemas) with ``body``.

    A ``json_schema`` ``response_format`` becomes ``output_config.format`` with its schema (the
    answer's text is then the JSON); formats structured outputs cannot express (``json_object``)
    become a forced tool named by ``response_format_tool_name(body)``: pass that name as
    ``response_tool`` when translating the response back, so its input comes back as the text.

    ``reasoning_effort``, ``reasoning`` or ``thinking`` become ``thinking`` (see
    ``EFFORT_BUDGETS``); an assistant message's ``reasoning_content`` with its
    ``reasoning_signature`` becomes the thinking block it came from (without a signature it cannot
    be sent back to Claude, and is dropped). ``cache_control`` on content parts, messages and
    tools is kept.

    >>> chat_request_to_messages({"model": "claude-x", "messages": [{"role": "user", "content": "Hi"}]})
    {'model': 'claude-x', 'max_tokens': 4096, 'messages': [{'role': 'user', 'content': 'Hi'}]}
    """
    if not isinstance(body, dict):
        raise TranslationError("the request body must be a JSON object")
    n = body.get("n")
    if n is not None and n != 1:
        raise fail("n", "only n=1 is supported: Claude returns one choice per request")
    for legacy in ("functions", "function_call"):
        if body.get(legacy) is not None:
            raise fail(legacy, "the deprecated functions API is not supported: use tools and tool_choice")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise fail("messages", "must be a non-empty array")

    result: dict[str, Any] = {}
    if "model" in body:
        result["model"] = body["model"]
    max_tokens = _max_tokens(body)
    thinking, result["max_tokens"] = thinking_of_chat_request(
        body, max_tokens or default_max_tokens, explicit=max_tokens is not None
    )
    system, converted = _convert_messages(messages)
    if system:
        result["system"] = system
    result["messages"] = converted
    _copy_sampling(body, result)
    if thinking is not None:
        result["thinking"] = thinking
    user = body.get("user")
    if isinstance(user, str) and user:
        result["metadata"] = {"user_id": user}
    output_format = output_format_of_response_format(body.get("response_format"))
    if output_format is not None:
        result["output_config"] = {"format": output_format}
    convert_tools(body, result)
    return result


def _max_tokens(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise fail(key, "must be a positive integer")
        return value
    return None


def _number(body: dict[str, Any], key: str) -> float | int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise fail(key, "must be a number")
    return value


def _copy_sampling(body: dict[str, Any], result: dict[str, Any]) -> None:
    stop = body.get("stop")
    if stop is not None:
        sequences = [stop] if isinstance(stop, str) else stop
        if not isinstance(sequences, list) or not all(isinstance(s, str) for s in sequences):
            raise fail("stop", "must be a string or an array of strings")
        # Anthropic rejects empty stop sequences; an empty one never matches in OpenAI anyway.
        kept = [s for s in sequences if s]
        if kept:
            result["stop_sequences"] = kept
    temperature = _number(body, "temperature")
    if temperature is not None:
        result["temperature"] = min(temperature, 1)
    top_p = _number(body, "top_p")
    if top_p is not None:
        result["top_p"] = top_p
    stream = body.get("stream")
    if isinstance(stream, bool):
        result["stream"] = stream


def _convert_messages(messages: list[Any]) -> tuple[_Content, list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    converted: list[dict[str, Any]] = []
    pending: _Pending = {}
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise fail(f"messages[{i}]", "must be an object")
        role = message.get("role")
        if role == "system" or role == "developer":
            blocks = system_blocks(message.get("content"), f"messages[{i}].content")
            system += _cache_last(message, i, blocks)
            continue
        if role == "tool":
            _append(converted, "user", _cached(message, i, [_tool_result(message, i, pending)]))
            continue
        if pending:
            raise _unanswered(pending)
        content: _Content
        if role == "user":
            content = _user_content(message.get("content"), i)
        elif role == "assistant":
            content, pending = _assistant_content(message, i)
        else:
            raise fail(f"messages[{i}].role", f"unsupported role {role!r}")
        if content:
            _append(converted, role, _cached(message, i, content))
    if pending:
        raise _unanswered(pending)
    if any("cache_control" in block for block in system):
        return system, converted
    # Without cache breakpoints the system prompt travels as one string.
    return "\n".join(block["text"] for block in system), converted


def _cached(message: dict[str, Any], i: int, content: _Content) -> _Content:
    """``content`` with the message's own ``cache_control`` on its last block (when it has one)."""
    if "cache_control" not in message or not content:
        return content
    return _cache_last(
        message, i, [{"type": "text", "text": content}] if isinstance(content, str) else content
    )


def _cache_last(message: dict[str, Any], i: int, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if "cache_control" in message and blocks:
        cache_control = cache_control_of(message["cache_control"], f"messages[{i}].cache_control")
        blocks[-1] = {**blocks[-1], "cache_control": cache_control}
    return blocks


def _append(converted: list[dict[str, Any]], role: str, content: _Content) -> None:
    """Add a message, merging it into the previous one when the role repeats (Anthropic alternates)."""
    if converted and converted[-1]["role"] == role:
        previous = converted[-1]
        blocks = previous["content"]
        if isinstance(blocks, str):
            blocks = previous["content"] = [{"type": "text", "text": blocks}]
        if isinstance(content, str):
            blocks.append({"type": "text", "text": content})
        else:
            blocks.extend(content)
        return
    converted.append({"role": role, "content": content})


def _unanswered(pending: _Pending) -> TranslationError:
    call_id, (i, k) = next(iter(pending.items()))
    return fail(
        f"messages[{i}].tool_calls[{k}]",
        f"tool call {call_id!r} has no result: every tool call needs a role 'tool' message with its "
        f"tool_call_id right after messages[{i}]",
    )


def _user_content(content: Any, i: int) -> _Content:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise fail(f"messages[{i}].content", "must be a string or an array of content parts")
    return _blocks(content, i)


def _blocks(content: list[Any], i: int) -> list[dict[str, Any]]:
    blocks = []
    for j, part in enumerate(content):
        block = part_to_block(part, f"messages[{i}].content[{j}]")
        if block is not None:
            blocks.append(block)
    return blocks


def _thinking(message: dict[str, Any], i: int) -> dict[str, Any] | None:
    """The thinking block an assistant message's reasoning came from, when it kept its signature."""
    signature = message.get("reasoning_signature")
    if signature is None:
        return None
    if not isinstance(signature, str):
        raise fail(f"messages[{i}].reasoning_signature", "must be a string")
    reasoning = message.get("reasoning_content")
    if reasoning is not None and not isinstance(reasoning, str):
        raise fail(f"messages[{i}].reasoning_content", "must be a string")
    if not signature:
        return None
    return {"type": "thinking", "thinking": reasoning or "", "signature": signature}


def _assistant_content(message: dict[str, Any], i: int) -> tuple[_Content, _Pending]:
    content = message.get("content")
    tool_calls = message.get("tool_calls")
    refusal = message.get("refusal")
    thinking = _thinking(message, i)
    if isinstance(content, str) and not tool_calls and not refusal and thinking is None:
        return content, {}
    blocks: list[dict[str, Any]] = [] if thinking is None else [thinking]
    if isinstance(content, list):
        blocks.extend(_blocks(content, i))
    elif isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    elif content is not None:
        raise fail(f"messages[{i}].content", "must be a string, an array of text parts, or null")
    if isinstance(refusal, str) and refusal:
        blocks.append({"type": "text", "text": refusal})
    pending: _Pending = {}
    if tool_calls is None:
        return blocks, pending
    if not isinstance(tool_calls, list):
        raise fail(f"messages[{i}].tool_calls", "must be an array")
    made: set[str] = set()
    for k, call in enumerate(tool_calls):
        block = _tool_use(call, f"messages[{i}].tool_calls[{k}]")
        if call["id"] in pending:
            raise fail(f"messages[{i}].tool_calls[{k}].id", f"duplicate tool call id {call['id']!r}")
        if block["id"] in made:
            # Two ids that only differ once made valid for Claude: their results could not be told apart.
            raise fail(
                f"messages[{i}].tool_calls[{k}].id",
                f"tool call id {call['id']!r} becomes {block['id']!r} for Claude, as another call's id does",
            )
        made.add(block["id"])
        pending[call["id"]] = (i, k)
        blocks.append(block)
    return blocks, pending


def _tool_use(call: Any, field: str) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise fail(field, "must be an object")
    if call.get("type", "function") != "function":
        raise fail(f"{field}.type", "only function tool calls can be sent to Claude")
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise fail(f"{field}.id", "must be a non-empty string")
    function = call.get("function")
    if not isinstance(function, dict):
        raise fail(f"{field}.function", "must be an object")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise fail(f"{field}.function.name", "must be a non-empty string")
    arguments = _parse_arguments(function.get("arguments"), f"{field}.function.arguments")
    return {"type": "tool_use", "id": tool_use_id(call_id), "name": name, "input": arguments}


def _parse_arguments(arguments: Any, field: str) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        # Guessing {} here would run the tool without the arguments the model gave.
        raise fail(field, 'must be a JSON object in a string (use "{}" for a call without arguments)')
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise fail(field, f"is not valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise fail(field, "must encode a JSON object")
    return parsed


def _tool_result(message: dict[str, Any], i: int, pending: _Pending) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise fail(f"messages[{i}].tool_call_id", "must be a non-empty string")
    if call_id not in pending:
        raise fail(
            f"messages[{i}].tool_call_id",
            f"tool result for {call_id!r} answers no tool call of the assistant message before it",
        )
    del pending[call_id]
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id(call_id)}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif isinstance(content, list):
        blocks = _blocks(content, i)
        if blocks:
            block["content"] = blocks
    elif content is not None:
        raise fail(f"messages[{i}].content", "must be a string or an array of content parts")
    return block
