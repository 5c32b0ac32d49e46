"""Anthropic stream events -> OpenAI ``chat.completion.chunk`` objects, and their SSE framing."""

from __future__ import annotations

import time
from typing import Any

import orjson

from claudegate.errors import StreamProtocolError
from claudegate.translate._errors import anthropic_error_to_openai
from claudegate.translate._mapping import (
    chat_citation,
    chat_id_from_message_id,
    dumps,
    stop_reason_to_finish_reason,
    usage_to_openai,
)

__all__ = ["MessagesToChatStream", "chunk_to_sse", "done_sse"]

_DONE = b"data: [DONE]\n\n"

# What an Anthropic content block turns into on the OpenAI side.
_TEXT = 0  # delta.content
_TOOL = 1  # delta.tool_calls[]
_ANSWER = 2  # the response-format tool: its JSON is the answer, sent as delta.content
_THINKING = 3  # delta.reasoning_content
_DROPPED = 4  # redacted thinking, server tools and their results, unknown blocks


class _Block:
    __slots__ = ("citations", "kind", "ordinal", "sent_arguments", "signed", "start")

    def __init__(self, kind: int, ordinal: int = -1, *, signed: bool = False, start: int = 0) -> None:
        self.kind = kind
        self.ordinal = ordinal
        self.sent_arguments = False
        self.signed = signed  # a thinking block whose signature goes out as reasoning_signature
        self.start = start  # a text block: where its text begins in the message's content
        self.citations: list[Any] = []


class MessagesToChatStream:
    """Turn Anthropic stream events into OpenAI chunks, one event at a time.

    Feed every decoded event to ``feed`` and send what it returns; call ``finish`` when the
    upstream stream ends. A role chunk comes first; each tool call gets the 0-based ordinal of
    tool calls as ``index`` (never the content block index); thinking goes to
    ``reasoning_content``, never ``content``, and the first thinking block's signature to
    ``reasoning_signature`` (as ``message_to_chat_completion`` does); the finish chunk (and,
    with ``include_usage``, a usage chunk with ``choices: []``) is sent once the final usage is
    known. An ``error`` event becomes an OpenAI ``{"error": ...}`` chunk and ends the stream.
    A text block's citations go out when the block stops, as ``delta.citations`` (the entries
    ``message_to_chat_completion`` lists, so a client accumulating deltas by ``index`` ends
    with the same list).

    Example::

        stream = MessagesToChatStream(include_usage=True)
        for event in upstream_events:
            for chunk in stream.feed(event):
                send(chunk_to_sse(chunk))
        for chunk in stream.finish():
            send(chunk_to_sse(chunk))
        send(done_sse())
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        include_usage: bool = False,
        created: int | None = None,
        response_tool: str | None = None,
    ) -> None:
        self._model = model or ""
        self._include_usage = include_usage
        self._created = created if created is not None else int(time.time())
        self._response_tool = response_tool
        self._id = ""
        self._started = False
        self._done = False
        self._blocks: dict[int, _Block] = {}
        self._thinking_seen = False
        self._tool_calls = 0
        self._length = 0  # characters of content sent so far
        self._citations = 0
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._stopped = False

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Translate one Anthropic stream event; returns the chunks to send (often one, maybe none)."""
        if self._done:
            return []
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "ping":
            return []
        if kind == "error":
            self._done = True
            return [anthropic_error_to_openai(event)]
        if kind == "message_start":
            return self._start(event)
        if not self._started and kind in (
            "content_block_start",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ):
            raise StreamProtocolError(f"{kind} before message_start")
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_stop":
            return self._block_stop(event)
        if kind == "message_delta":
            self._message_delta(event)
            return []
        if kind == "message_stop":
            return self._finish_chunks()
        return []  # unknown event types are skipped, as clients must

    def finish(self) -> list[dict[str, Any]]:
        """Call at the end of the upstream stream: the chunks still owed (finish and usage).

        Raises ``StreamProtocolError`` if the stream ended before its final usage was known.
        """
        if self._done:
            return []
        if not self._started:
            raise StreamProtocolError("the stream ended before message_start")
        if not self._stopped:
            raise StreamProtocolError("the stream ended before message_delta")
        return self._finish_chunks()

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    def _start(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if self._started:
            raise StreamProtocolError("a second message_start")
        self._started = True
        message = event.get("message") or {}
        self._id = chat_id_from_message_id(message.get("id"))
        self._model = self._model or message.get("model") or ""
        self._usage = dict(message.get("usage") or {})
        self._stop_reason = message.get("stop_reason")
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        index = event.get("index")
        if not isinstance(index, int) or index in self._blocks:
            raise StreamProtocolError(f"content_block_start with a repeated or missing index {index!r}")
        block = event.get("content_block") or {}
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = _Block(_TEXT, start=self._length)
            text = block.get("text")
            return [self._content(text)] if text else []
        if kind == "thinking":
            self._blocks[index] = entry = _Block(_THINKING, signed=not self._thinking_seen)
            self._thinking_seen = True
            delta: dict[str, Any] = {}
            if block.get("thinking"):
                delta["reasoning_content"] = block["thinking"]
            if entry.signed and block.get("signature"):
                delta["reasoning_signature"] = block["signature"]
            return [self._chunk(delta)] if delta else []
        if kind != "tool_use":
            self._blocks[index] = _Block(_DROPPED)
            return []
        chunks: list[dict[str, Any]] = []
        if self._response_tool is not None and block.get("name") == self._response_tool:
            entry = self._blocks[index] = _Block(_ANSWER)
        else:
            entry = self._blocks[index] = _Block(_TOOL, self._tool_calls)
            self._tool_calls += 1
            call = {
                "index": entry.ordinal,
                "id": block.get("id", ""),
                "type": "function",
                "function": {"name": block.get("name", ""), "arguments": ""},
            }
            chunks.append(self._chunk({"tool_calls": [call]}))
        given = block.get("input")
        if given:  # a block that arrives with its input instead of input_json_delta fragments
            chunks.append(self._arguments(entry, dumps(given)))
        return chunks

    def _content(self, text: str) -> dict[str, Any]:
        self._length += len(text)
        return self._chunk({"content": text})

    def _arguments(self, block: _Block, fragment: str) -> dict[str, Any]:
        block.sent_arguments = True
        if block.kind == _ANSWER:
            return self._content(fragment)
        return self._chunk({"tool_calls": [{"index": block.ordinal, "function": {"arguments": fragment}}]})

    def _delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        index = event.get("index")
        block = self._blocks.get(index) if isinstance(index, int) else None
        if block is None:
            raise StreamProtocolError(f"content_block_delta for block {index!r}, never started")
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [self._content(text)] if text and block.kind == _TEXT else []
        if kind == "input_json_delta":
            fragment = delta.get("partial_json")
            # The first fragment is often "": sending it would be an empty delta.
            if fragment and (block.kind == _TOOL or block.kind == _ANSWER):
                return [self._arguments(block, fragment)]
            return []
        if kind == "thinking_delta":
            thinking = delta.get("thinking")
            return (
                [self._chunk({"reasoning_content": thinking})] if thinking and block.kind == _THINKING else []
            )
        if kind == "signature_delta":
            signature = delta.get("signature")
            return [self._chunk({"reasoning_signature": signature})] if signature and block.signed else []
        if kind == "citations_delta" and block.kind == _TEXT:
            block.citations.append(delta.get("citation"))
        return []  # unknown deltas have no OpenAI form

    def _block_stop(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        index = event.get("index")
        block = self._blocks.get(index) if isinstance(index, int) else None
        if block is None:
            raise StreamProtocolError(f"content_block_stop for block {index!r}, never started")
        if (block.kind == _TOOL or block.kind == _ANSWER) and not block.sent_arguments:
            # No fragment at all means an empty input; OpenAI clients expect "{}", not "".
            return [self._arguments(block, "{}")]
        if block.citations:
            entries = []
            for citation in block.citations:
                entries.append(chat_citation(citation, self._citations, block.start, self._length))
                self._citations += 1
            return [self._chunk({"citations": entries})]
        return []

    def _message_delta(self, event: dict[str, Any]) -> None:
        delta = event.get("delta") or {}
        if "stop_reason" in delta:
            self._stop_reason = delta["stop_reason"]
        usage = event.get("usage")
        if isinstance(usage, dict):
            self._usage.update(usage)  # usage in message_delta is cumulative
        self._stopped = True

    def _finish_chunks(self) -> list[dict[str, Any]]:
        self._done = True
        finish_reason = stop_reason_to_finish_reason(self._stop_reason)
        if finish_reason == "tool_calls" and not self._tool_calls:
            # Only the response-format tool (or a server tool) ran: the answer is complete.
            finish_reason = "stop"
        chunks = [self._chunk({}, finish_reason)]
        if self._include_usage:
            chunks.append(
                {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._model,
                    "choices": [],
                    "usage": usage_to_openai(self._usage),
                }
            )
        return chunks


def chunk_to_sse(chunk: dict[str, Any]) -> bytes:
    """One OpenAI SSE frame: ``data: <compact JSON>`` and a blank line (no ``event:`` line)."""
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def done_sse() -> bytes:
    """The frame that ends every OpenAI stream: ``data: [DONE]``."""
    return _DONE
