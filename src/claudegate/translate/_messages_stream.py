"""OpenAI ``chat.completion.chunk`` objects -> Anthropic stream events.

Anthropic blocks must never overlap, while OpenAI may interleave the argument fragments of
parallel tool calls. So only one block is open at a time; anything that arrives for another block
waits in a queue, and the open block closes as soon as something waits and the block is complete
(text always is; a tool call is once its arguments form a JSON object, which no later fragment
could extend and leave valid). What still waits at the end is sent whole, in arrival order.

Whether arguments are complete is tracked as fragments arrive, each character looked at once, and
the whole text parsed once, when its brackets balance. Arguments that end up not forming a JSON
object break the protocol (``StreamProtocolError``), unless the answer stopped at its token limit
(``finish_reason: "length"``): then the call cut short is left open, with no
``content_block_stop``, as the live API leaves a block cut by ``max_tokens`` (accumulators keep
what parses of it, as ``chat_completion_to_message`` does). Only the last block of a stream may stay
open, so blocks still waiting behind a cut call (only interleaved parallel calls leave any) are
dropped.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from claudegate.errors import StreamProtocolError
from claudegate.translate._errors import openai_error_to_anthropic
from claudegate.translate._mapping import (
    finish_reason_to_stop_reason,
    message_id_from_chat_id,
    reasoning_text,
    tool_arguments,
    tool_use_id,
    usage_to_anthropic,
)

__all__ = ["ChatToMessagesStream"]

_WAITING, _OPEN, _CLOSED = 0, 1, 2
# How far a call's arguments have come: only blanks yet, inside the top-level value, a whole JSON
# container, or text that no later fragment can turn into one.
_BLANK, _INSIDE, _WHOLE, _BROKEN = 0, 1, 2, 3
_STRUCTURE = re.compile(r'["{}\[\]]')
_STRING_END = re.compile(r'["\\]')
_NO_DELTA: dict[str, Any] = {}  # read only


class _Arguments:
    """A tool call's argument fragments, and whether they form a whole JSON container yet."""

    __slots__ = ("depth", "escaped", "in_string", "object", "parts", "state")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.state = _BLANK
        self.depth = 0
        self.in_string = False
        self.escaped = False  # a backslash ended the last fragment, inside a string
        self.object = False  # the whole value, once parsed, is an object

    def add(self, fragment: str) -> None:
        if not fragment:
            return
        self.parts.append(fragment)
        if self.state == _WHOLE and fragment.strip():
            self.state = _BROKEN
        elif self.state == _BLANK:
            text = fragment.lstrip()
            if text:
                # A bare scalar could always grow ("1" -> "12"): it is never a whole container.
                self.state = _INSIDE if text[0] in "{[" else _BROKEN
                self._scan(fragment, len(fragment) - len(text))
        elif self.state == _INSIDE:
            self._scan(fragment, 0)

    def _scan(self, text: str, position: int) -> None:
        if self.escaped:
            self.escaped, position = False, position + 1
        while self.state == _INSIDE:
            if self.in_string:
                found = _STRING_END.search(text, position)
                if found is None:
                    return
                if found.group() == "\\":
                    if found.end() == len(text):
                        self.escaped = True
                        return
                    position = found.end() + 1
                    continue
                self.in_string, position = False, found.end()
                continue
            found = _STRUCTURE.search(text, position)
            if found is None:
                return
            position = found.end()
            mark = found.group()
            if mark == '"':
                self.in_string = True
            elif mark in "{[":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 0:
                    self._settle(text[position:])

    def _settle(self, rest: str) -> None:
        """The top-level brackets balance: parse the text once to know whether it is valid JSON."""
        if rest.strip():
            self.state = _BROKEN
            return
        try:
            parsed = orjson.loads("".join(self.parts))
        except orjson.JSONDecodeError:
            self.state = _BROKEN
            return
        self.state = _WHOLE
        self.object = isinstance(parsed, dict)

    @property
    def whole(self) -> bool:
        return self.state == _WHOLE

    @property
    def is_object(self) -> bool:
        return self.state == _WHOLE and self.object

    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""


class _Block:
    __slots__ = (
        "arguments",
        "call_id",
        "index",
        "name",
        "ordinal",
        "signature",
        "state",
        "text",
        "thinking",
        "tool",
    )

    def __init__(
        self,
        tool: bool,
        first: str,
        call_id: str = "",
        name: str = "",
        ordinal: int = -1,
        *,
        thinking: bool = False,
    ) -> None:
        self.tool = tool
        self.thinking = thinking
        self.signature = ""  # a thinking block's signature, sent when the block starts
        self.text: list[str] = [] if tool or not first else [first]
        self.arguments = _Arguments()
        if tool:
            self.arguments.add(first)
        self.call_id = call_id
        self.name = name
        self.ordinal = ordinal  # position among the tool calls, in arrival order
        self.state = _WAITING
        self.index = -1

    def complete(self) -> bool:
        return not self.tool or self.arguments.whole


class ChatToMessagesStream:
    """Turn OpenAI chunks into Anthropic stream events, one chunk at a time.

    Feed every decoded chunk to ``feed`` and send what it returns; call ``finish`` after
    ``data: [DONE]``. Exactly one ``message_start`` comes first; text (``content`` and
    ``refusal``) and tool calls become blocks with strictly increasing indices, each
    start -> deltas -> stop, never overlapping (but for a call cut by the token limit, see the
    module docstring); the ``message_delta`` carrying the stop reason and the usage of the final
    usage chunk is sent by ``finish``. Only the first choice is translated. ``reasoning_content``
    (or a ``reasoning`` string) becomes a thinking block, and ``reasoning_signature`` its
    ``signature_delta`` (a signature arriving once its block has closed has nowhere to go).

    ``message_start`` carries the input count of the first chunk's usage when the upstream sends
    usage that early, else ``input_tokens`` (the caller's estimate, marked by
    ``"input_tokens_estimated": true`` on the ``message_start`` event itself), else 0;
    ``message_delta`` always carries the upstream's final count.

    An ``{"error": ...}`` chunk becomes an ``error`` event and ends the stream. Tool call ids are
    made valid for Anthropic as ``tool_use_id`` does (``toolu_<k>`` for the k-th call when it has
    none); arguments that are not a JSON object, or two calls with one id, raise
    ``StreamProtocolError``.

    Example::

        stream = ChatToMessagesStream(model=requested_model)
        for chunk in upstream_chunks:  # decoded data: lines, up to [DONE]
            for event in stream.feed(chunk):
                send(encode_json_event(event))
        for event in stream.finish():
            send(encode_json_event(event))
    """

    def __init__(self, *, model: str | None = None, input_tokens: int | None = None) -> None:
        self._model = model
        self._input_estimate = input_tokens
        self._started = False
        self._done = False
        self._next_index = 0
        self._open: _Block | None = None
        self._queue: list[_Block] = []
        self._calls: dict[int, _Block] = {}
        self._ids: set[str] = set()
        self._last_call = -1
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """Translate one OpenAI chunk; returns the Anthropic events to send (maybe none)."""
        if self._done:
            return []
        if chunk.get("error"):
            self._done = True
            return [openai_error_to_anthropic(chunk)]
        out: list[dict[str, Any]] = []
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        if not self._started:
            out.append(self._message_start(chunk))
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # n > 1 is never requested; a stray choice has no Anthropic form
            delta = choice.get("delta") or _NO_DELTA
            text = delta.get("content")
            current = self._open
            if (
                len(delta) == 1
                and text
                and current is not None
                and not current.tool
                and not current.thinking
                and not self._queue
                and isinstance(text, str)
            ):
                # Most chunks: more text for the open text block.
                out.append(_text_delta(current.index, text))
            elif delta:
                self._delta(delta, out)
            finish_reason = choice.get("finish_reason")
            if finish_reason:
                self._finish_reason = finish_reason
                self._close_all(out)
        return out

    @property
    def finish_reason(self) -> str | None:
        """The upstream's ``finish_reason`` for the first choice, once a chunk carried it."""
        return self._finish_reason

    def _delta(self, delta: dict[str, Any], out: list[dict[str, Any]]) -> None:
        reasoning = reasoning_text(delta)
        if reasoning:
            self._text(reasoning, out, thinking=True)
        signature = delta.get("reasoning_signature")
        if isinstance(signature, str) and signature:
            self._signature(signature, out)
        for key in ("content", "refusal"):
            text = delta.get(key)
            if isinstance(text, str) and text:
                self._text(text, out)
        for call in delta.get("tool_calls") or ():
            self._tool_call(call, out)

    def finish(self) -> list[dict[str, Any]]:
        """Call after the last chunk: closes what is open, then ``message_delta`` and ``message_stop``.

        Raises ``StreamProtocolError`` if no chunk, or no ``finish_reason``, ever arrived.
        """
        if self._done:
            return []
        if not self._started:
            raise StreamProtocolError("the stream ended before its first chunk")
        if self._finish_reason is None:
            raise StreamProtocolError("the stream ended without a finish_reason")
        out: list[dict[str, Any]] = []
        self._close_all(out)
        self._done = True
        stop_reason = finish_reason_to_stop_reason(self._finish_reason)
        if self._calls and stop_reason == "end_turn":
            # OpenAI reports "stop" for a forced tool call; Anthropic clients run tools on "tool_use".
            stop_reason = "tool_use"
        elif not self._calls and stop_reason == "tool_use":
            stop_reason = "end_turn"
        usage = usage_to_anthropic(self._usage)
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": usage,
            }
        )
        out.append({"type": "message_stop"})
        return out

    def _message_start(self, chunk: dict[str, Any]) -> dict[str, Any]:
        self._started = True
        usage: dict[str, Any]
        estimated = False
        if self._usage is not None and isinstance(self._usage.get("prompt_tokens"), int):
            usage = usage_to_anthropic(self._usage)
        elif self._input_estimate is not None:
            usage = {"input_tokens": self._input_estimate, "output_tokens": 0}
            estimated = True
        else:
            usage = {"input_tokens": 0, "output_tokens": 0}
        event: dict[str, Any] = {
            "type": "message_start",
            "message": {
                "id": message_id_from_chat_id(chunk.get("id")),
                "type": "message",
                "role": "assistant",
                "model": self._model or chunk.get("model") or "",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                # The final counts come with the last usage chunk, in message_delta.
                "usage": usage,
            },
        }
        if estimated:
            # On the event, not the message: the message a client accumulates ends exact.
            event["input_tokens_estimated"] = True
        return event

    def _text(self, text: str, out: list[dict[str, Any]], *, thinking: bool = False) -> None:
        current = self._open
        if not self._queue and current is not None and not current.tool and current.thinking == thinking:
            out.append(_thinking_delta(current.index, text) if thinking else _text_delta(current.index, text))
            return
        last = self._queue[-1] if self._queue else None
        if last is not None and not last.tool and last.thinking == thinking:
            last.text.append(text)
        else:
            self._queue.append(_Block(False, text, thinking=thinking))
        self._advance(out)

    def _signature(self, signature: str, out: list[dict[str, Any]]) -> None:
        """Sign the latest thinking block: at once when it is open, when it starts when it waits."""
        for block in reversed(self._queue):
            if block.thinking:
                block.signature += signature
                return
        current = self._open
        if current is not None and current.thinking:
            out.append(_signature_delta(current.index, signature))

    def _tool_call(self, call: dict[str, Any], out: list[dict[str, Any]]) -> None:
        function = call.get("function") or {}
        fragment = function.get("arguments") or ""
        if not isinstance(fragment, str):
            fragment = orjson.dumps(fragment).decode()
        key = self._call_key(call)
        block = self._calls.get(key)
        if block is None:
            call_id, name = str(call.get("id") or ""), str(function.get("name") or "")
            block = _Block(True, fragment, call_id, name, ordinal=len(self._calls))
            self._calls[key] = block
            self._queue.append(block)
        else:
            block.call_id = block.call_id or str(call.get("id") or "")
            block.name = block.name or str(function.get("name") or "")
            if not fragment:
                return
            if block.state == _CLOSED:
                if fragment.strip():
                    raise StreamProtocolError(
                        f"tool call {key} sent arguments after they formed complete JSON"
                    )
                return
            block.arguments.add(fragment)
            if block.state == _OPEN:
                out.append(_json_delta(block.index, fragment))
        self._advance(out)

    def _call_key(self, call: dict[str, Any]) -> int:
        key = call.get("index")
        if not isinstance(key, int):
            # Some servers omit the index: a new id starts a new call, anything else continues one.
            known = {block.call_id: k for k, block in self._calls.items()}
            call_id = call.get("id")
            key = known.get(call_id, len(self._calls)) if call_id else max(self._last_call, 0)
        self._last_call = key
        return key

    def _advance(self, out: list[dict[str, Any]]) -> None:
        while self._queue:
            current = self._open
            if current is not None:
                if not current.complete():
                    return
                self._close(out)
            self._start(self._queue.pop(0), out)

    def _start(self, block: _Block, out: list[dict[str, Any]]) -> None:
        block.index = self._next_index
        self._next_index += 1
        block.state = _OPEN
        self._open = block
        if block.tool:
            call_id = tool_use_id(block.call_id, ordinal=block.ordinal)
            if call_id in self._ids:
                raise StreamProtocolError(f"upstream tool call {block.ordinal} repeats the id {call_id!r}")
            self._ids.add(call_id)
            content_block = {"type": "tool_use", "id": call_id, "name": block.name, "input": {}}
            out.append({"type": "content_block_start", "index": block.index, "content_block": content_block})
            buffered = block.arguments.text()
            if buffered:
                out.append(_json_delta(block.index, buffered))
            return
        buffered = "".join(block.text)
        block.text = []  # text is never looked at again
        if block.thinking:
            thinking = {"type": "thinking", "thinking": "", "signature": ""}
            out.append({"type": "content_block_start", "index": block.index, "content_block": thinking})
            out.append(_thinking_delta(block.index, buffered))
            if block.signature:
                out.append(_signature_delta(block.index, block.signature))
            return
        out.append(
            {
                "type": "content_block_start",
                "index": block.index,
                "content_block": {"type": "text", "text": ""},
            }
        )
        out.append(_text_delta(block.index, buffered))

    def _close(self, out: list[dict[str, Any]]) -> None:
        current = self._open
        if current is not None:
            if current.tool and not current.arguments.is_object:
                # Never closed on a guess: "{}" in place of the arguments would run the tool wrongly.
                text = current.arguments.text()
                raise StreamProtocolError(
                    f"upstream tool call {current.ordinal} sent arguments that are not a JSON object: "
                    f"{text[:200]!r}"
                )
            current.state = _CLOSED
            out.append({"type": "content_block_stop", "index": current.index})
            self._open = None

    def _close_all(self, out: list[dict[str, Any]]) -> None:
        current = self._open
        if self._finish_reason == "length" and current is not None and not current.complete():
            # Cut by the token limit: left open as the live API leaves it, once its text is known
            # to be the start of a JSON object; nothing can follow an open block.
            tool_arguments(current.arguments.text(), cut=True, call=current.ordinal)
            current.state = _CLOSED
            self._open = None
            self._queue.clear()
            return
        self._close(out)
        while self._queue:
            self._start(self._queue.pop(0), out)
            self._close(out)


def _text_delta(index: int, text: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}


def _thinking_delta(index: int, text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "thinking_delta", "thinking": text},
    }


def _signature_delta(index: int, signature: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "signature_delta", "signature": signature},
    }


def _json_delta(index: int, fragment: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": fragment},
    }
