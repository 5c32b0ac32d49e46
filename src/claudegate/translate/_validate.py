"""The OpenAI stream contract, checked: every chat stream claudegate emits must pass this."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from claudegate.errors import StreamProtocolError
from claudegate.translate._mapping import FINISH_REASONS

__all__ = ["validate_chat_sse", "validate_chat_stream"]


class _Call:
    __slots__ = ("arguments", "id", "name")

    def __init__(self, call_id: str, name: str) -> None:
        self.id = call_id
        self.name = name
        self.arguments: list[str] = []


class _ChatStreamCheck:
    def __init__(self, include_usage: bool | None) -> None:
        self.include_usage = include_usage
        self.position = -1
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None
        self.role_seen = False
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.reasoning: list[str] = []
        self.calls: list[_Call] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None

    def fail(self, problem: str) -> StreamProtocolError:
        return StreamProtocolError(f"chunk {self.position}: {problem}")

    def feed(self, chunk: Any) -> None:
        self.position += 1
        if self.error is not None or self.usage is not None:
            raise self.fail("nothing may follow the usage chunk or an error chunk")
        if not isinstance(chunk, dict):
            raise self.fail("a chunk must be a JSON object")
        if "error" in chunk:
            if not isinstance(chunk["error"], dict) or not isinstance(chunk["error"].get("message"), str):
                raise self.fail('an error chunk must be {"error": {"message": ..., ...}}')
            self.error = chunk["error"]
            return
        self.check_envelope(chunk)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise self.fail("choices must be an array")
        if not choices:
            self.check_usage(chunk.get("usage"))
            return
        if chunk.get("usage") is not None:
            raise self.fail("usage belongs in a final chunk with choices: []")
        if len(choices) != 1 or not isinstance(choices[0], dict) or choices[0].get("index") != 0:
            raise self.fail("expected exactly one choice, with index 0")
        self.check_choice(choices[0])

    def check_envelope(self, chunk: dict[str, Any]) -> None:
        if chunk.get("object") != "chat.completion.chunk":
            raise self.fail(f"object must be 'chat.completion.chunk', not {chunk.get('object')!r}")
        chunk_id, model, created = chunk.get("id"), chunk.get("model"), chunk.get("created")
        if not isinstance(chunk_id, str) or not chunk_id:
            raise self.fail("id must be a non-empty string")
        if not isinstance(model, str) or not isinstance(created, int):
            raise self.fail("model must be a string and created an integer")
        if self.id is None:
            self.id, self.model, self.created = chunk_id, model, created
        elif (chunk_id, model, created) != (self.id, self.model, self.created):
            raise self.fail("id, model and created must be the same in every chunk")

    def check_choice(self, choice: dict[str, Any]) -> None:
        if self.finish_reason is not None:
            raise self.fail("a choice chunk after the finish chunk")
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            raise self.fail("delta must be an object")
        if not self.role_seen:
            if delta.get("role") != "assistant":
                raise self.fail("the first chunk must carry role 'assistant'")
            self.role_seen = True
        for key, parts in (
            ("content", self.content),
            ("refusal", self.refusal),
            ("reasoning_content", self.reasoning),
        ):
            value = delta.get(key)
            if value is not None:
                if not isinstance(value, str):
                    raise self.fail(f"delta.{key} must be a string")
                parts.append(value)
        tool_calls = delta.get("tool_calls")
        if tool_calls is not None:
            if not isinstance(tool_calls, list) or not tool_calls:
                raise self.fail("delta.tool_calls must be a non-empty array")
            for call in tool_calls:
                self.check_call(call)
        finish_reason = choice.get("finish_reason")
        if finish_reason is not None:
            if not isinstance(finish_reason, str) or finish_reason not in FINISH_REASONS:
                raise self.fail(f"finish_reason {finish_reason!r} is not one of {sorted(FINISH_REASONS)}")
            self.finish_reason = finish_reason

    def check_call(self, call: Any) -> None:
        if not isinstance(call, dict):
            raise self.fail("a tool_calls entry must be an object")
        index = call.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= len(self.calls):
            raise self.fail(f"tool_calls index {index!r}: indices count tool calls from 0, with no gaps")
        function = call.get("function")
        if not isinstance(function, dict):
            raise self.fail(f"tool call {index}: function must be an object")
        if index == len(self.calls):
            call_id, name = call.get("id"), function.get("name")
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
                raise self.fail(f"tool call {index}: its first delta must carry id and function.name")
            if call.get("type") != "function":
                raise self.fail(f"tool call {index}: its first delta must carry type 'function'")
            self.calls.append(_Call(call_id, name))
        elif "id" in call or "name" in function:
            raise self.fail(f"tool call {index}: id and name belong only in the call's first delta")
        arguments = function.get("arguments")
        if arguments is not None:
            if not isinstance(arguments, str):
                raise self.fail(f"tool call {index}: arguments must be a string fragment")
            self.calls[index].arguments.append(arguments)

    def check_usage(self, usage: Any) -> None:
        if self.finish_reason is None:
            raise self.fail("a chunk with choices: [] before the finish chunk")
        if self.include_usage is False:
            raise self.fail("a usage chunk, but include_usage was not requested")
        if not isinstance(usage, dict):
            raise self.fail("a chunk with choices: [] must carry usage")
        keys = ("prompt_tokens", "completion_tokens", "total_tokens")
        counts = [
            count for count in (usage.get(key) for key in keys) if isinstance(count, int) and count >= 0
        ]
        if len(counts) != len(keys):
            raise self.fail("usage needs non-negative prompt_tokens, completion_tokens and total_tokens")
        if counts[2] != counts[0] + counts[1]:
            raise self.fail("usage.total_tokens must be prompt_tokens + completion_tokens")
        self.usage = usage

    def result(self) -> dict[str, Any]:
        if self.position < 0:
            raise StreamProtocolError("the stream has no chunks")
        if self.error is None:
            if self.finish_reason is None:
                raise StreamProtocolError("the stream ended without a finish_reason")
            if self.include_usage and self.usage is None:
                raise StreamProtocolError("include_usage was requested but no usage chunk came")
        tool_calls = []
        for index, call in enumerate(self.calls):
            arguments = "".join(call.arguments)
            # A stream cut by the token limit may end inside the arguments, as the live APIs do.
            if self.error is None and self.finish_reason != "length" and not _is_json_object(arguments):
                raise StreamProtocolError(
                    f"tool call {index}: arguments are not a JSON object: {arguments!r}"
                )
            tool_calls.append(
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}
            )
        return {
            "id": self.id,
            "model": self.model,
            "created": self.created,
            "content": "".join(self.content),
            "refusal": "".join(self.refusal),
            "reasoning_content": "".join(self.reasoning),
            "tool_calls": tool_calls,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "error": self.error,
        }


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


def validate_chat_stream(
    chunks: Iterable[dict[str, Any]], *, include_usage: bool | None = None
) -> dict[str, Any]:
    """Check a sequence of OpenAI chunks against the stream contract and return what it built.

    Checks: ``object`` is ``chat.completion.chunk`` with one id/model/created throughout; the
    first chunk carries ``role: "assistant"``; exactly one choice (index 0); tool call indices
    count calls from 0 with no gaps; id, type and name come in a call's first delta and only
    there; each call's arguments join into a JSON object (unless ``finish_reason`` is
    ``length``); one ``finish_reason`` from the documented set, then nothing but an optional
    usage chunk with ``choices: []`` (required when ``include_usage`` is True, forbidden when
    False). An ``{"error": ...}`` chunk may end the stream early.

    Returns ``{"id", "model", "created", "content", "refusal", "reasoning_content",
    "tool_calls", "finish_reason", "usage", "error"}`` (texts joined, ``""`` when absent).
    Raises ``StreamProtocolError`` naming the first offending chunk.
    """
    check = _ChatStreamCheck(include_usage)
    for chunk in chunks:
        check.feed(chunk)
    return check.result()


def validate_chat_sse(raw: bytes, *, include_usage: bool | None = None) -> dict[str, Any]:
    """Check an OpenAI SSE body: ``data:`` lines only (comments allowed), ending in ``data: [DONE]``.

    The chunks are then checked by ``validate_chat_stream``, whose result is returned. A stream
    that ends with an error chunk need not send ``[DONE]``.
    """
    try:
        text = raw.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        raise StreamProtocolError(f"the stream is not UTF-8 ({exc})") from None
    frames = text.split("\n\n")
    if frames[-1]:
        raise StreamProtocolError("the stream does not end with a blank line after its last frame")
    chunks: list[Any] = []
    done = False
    for number, frame in enumerate(frames[:-1]):
        data_lines = []
        for line in frame.split("\n"):
            if not line or line.startswith(":"):
                continue  # comments are keep-alive heartbeats
            if not line.startswith("data:"):
                raise StreamProtocolError(
                    f"frame {number}: {line!r} is not a data: line (OpenAI sends only data:)"
                )
            data_lines.append(line[6:] if line.startswith("data: ") else line[5:])
        if not data_lines:
            continue
        if done:
            raise StreamProtocolError(f"frame {number}: data after data: [DONE]")
        data = "\n".join(data_lines)
        if data == "[DONE]":
            done = True
            continue
        try:
            chunks.append(orjson.loads(data))
        except orjson.JSONDecodeError as exc:
            raise StreamProtocolError(f"frame {number}: data is not JSON ({exc})") from None
    ended_by_error = bool(chunks) and isinstance(chunks[-1], dict) and "error" in chunks[-1]
    if not done and not ended_by_error:
        raise StreamProtocolError("the stream does not end with data: [DONE]")
    return validate_chat_stream(chunks, include_usage=include_usage)
