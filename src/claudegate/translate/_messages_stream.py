"""OpenAI ``chat.completion.chunk`` objects -> Anthropic stream events.

Anthropic blocks must never overlap, while OpenAI may interleave the argument fragments of
parallel tool calls. So only one block is open at a time; anything that arrives for another block
waits in a queue, and the open block closes as soon as something waits and the block is complete
(text always is; a tool call is once its arguments form a JSON object, which no later fragment
could extend and leave valid). What still waits at the end is sent whole, in arrival order.
"""

from __future__ import annotations

from typing import Any

import orjson

from claudegate.errors import StreamProtocolError
from claudegate.translate._errors import openai_error_to_anthropic
from claudegate.translate._mapping import (
    finish_reason_to_stop_reason,
    message_id_from_chat_id,
    tool_use_id,
    usage_to_anthropic,
)

__all__ = ["ChatToMessagesStream"]

_WAITING, _OPEN, _CLOSED = 0, 1, 2


class _Block:
    __slots__ = ("call_id", "checked", "index", "name", "parts", "state", "tool")

    def __init__(self, tool: bool, first: str, call_id: str = "", name: str = "") -> None:
        self.tool = tool
        self.parts = [first] if first else []
        self.call_id = call_id
        self.name = name
        self.state = _WAITING
        self.index = -1
        self.checked = -1  # len(parts) when the arguments were last found incomplete

    def complete(self) -> bool:
        if not self.tool:
            return True
        if self.checked == len(self.parts):
            return False
        try:
            parsed = orjson.loads("".join(self.parts))
        except orjson.JSONDecodeError:
            parsed = None
        # A closed object or array cannot grow; a bare number could ("1" -> "12").
        if isinstance(parsed, dict | list):
            return True
        self.checked = len(self.parts)
        return False


class ChatToMessagesStream:
    """Turn OpenAI chunks into Anthropic stream events, one chunk at a time.

    Feed every decoded chunk to ``feed`` and send what it returns; call ``finish`` after
    ``data: [DONE]``. Exactly one ``message_start`` comes first; text (``content`` and
    ``refusal``) and tool calls become blocks with strictly increasing indices, each
    start -> deltas -> stop, never overlapping; the ``message_delta`` carrying the stop reason
    and the usage of the final usage chunk is sent by ``finish``. Only the first choice is
    translated; ``reasoning_content`` is dropped. An ``{"error": ...}`` chunk becomes an
    ``error`` event and ends the stream.

    Example::

        stream = ChatToMessagesStream(model=requested_model)
        for chunk in upstream_chunks:  # decoded data: lines, up to [DONE]
            for event in stream.feed(chunk):
                send(encode_json_event(event))
        for event in stream.finish():
            send(encode_json_event(event))
    """

    def __init__(self, *, model: str | None = None) -> None:
        self._model = model
        self._started = False
        self._done = False
        self._next_index = 0
        self._open: _Block | None = None
        self._queue: list[_Block] = []
        self._calls: dict[int, _Block] = {}
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
        if not self._started:
            out.append(self._message_start(chunk))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # n > 1 is never requested; a stray choice has no Anthropic form
            delta = choice.get("delta") or {}
            for key in ("content", "refusal"):
                text = delta.get(key)
                if isinstance(text, str) and text:
                    self._text(text, out)
            for call in delta.get("tool_calls") or ():
                self._tool_call(call, out)
            finish_reason = choice.get("finish_reason")
            if finish_reason:
                self._finish_reason = finish_reason
                self._close_all(out)
        return out

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
        return {
            "type": "message_start",
            "message": {
                "id": message_id_from_chat_id(chunk.get("id")),
                "type": "message",
                "role": "assistant",
                "model": self._model or chunk.get("model") or "",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                # The real counts only come with the final usage chunk, in message_delta.
                "usage": {"input_tokens": 0, "output_tokens": 0},
            },
        }

    def _text(self, text: str, out: list[dict[str, Any]]) -> None:
        current = self._open
        if not self._queue and current is not None and not current.tool:
            out.append(_text_delta(current.index, text))
            return
        if self._queue and not self._queue[-1].tool:
            self._queue[-1].parts.append(text)
        else:
            self._queue.append(_Block(False, text))
        self._advance(out)

    def _tool_call(self, call: dict[str, Any], out: list[dict[str, Any]]) -> None:
        function = call.get("function") or {}
        fragment = function.get("arguments") or ""
        if not isinstance(fragment, str):
            fragment = orjson.dumps(fragment).decode()
        key = self._call_key(call)
        block = self._calls.get(key)
        if block is None:
            block = _Block(True, fragment, str(call.get("id") or ""), str(function.get("name") or ""))
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
            block.parts.append(fragment)
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
        buffered = "".join(block.parts)
        if block.tool:
            call_id = tool_use_id(block.call_id) if block.call_id else f"toolu_{block.index}"
            content_block = {"type": "tool_use", "id": call_id, "name": block.name, "input": {}}
            out.append({"type": "content_block_start", "index": block.index, "content_block": content_block})
            if buffered:
                out.append(_json_delta(block.index, buffered))
            return
        block.parts = []  # text is never looked at again
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
            current.state = _CLOSED
            out.append({"type": "content_block_stop", "index": current.index})
            self._open = None

    def _close_all(self, out: list[dict[str, Any]]) -> None:
        self._close(out)
        while self._queue:
            self._start(self._queue.pop(0), out)
            self._close(out)


def _text_delta(index: int, text: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}


def _json_delta(index: int, fragment: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": fragment},
    }
