"""Anthropic stream events -> OpenAI Responses stream events (typed, in order, numbered).

``response.created`` and ``response.in_progress`` open the stream; each output item is announced
(``response.output_item.added``, and ``response.content_part.added`` for a message's text part)
before its deltas, and closed (``.done`` events, then ``response.output_item.done``) before the
next item begins; the terminal event (``response.completed``, ``response.incomplete``, or
``error`` then ``response.failed``) carries the whole response, built by the same functions as a
JSON answer. ``sequence_number`` counts from 0 without gaps. There is no ``[DONE]``: the stream
ends after the terminal event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from claudegate.sse import parse_partial_json
from claudegate.translate._mapping import dumps
from claudegate.translate._responses_output import (
    ResponseShell,
    function_call_item,
    message_item,
    output_text_part,
    reasoning_item,
    response_object,
    response_status,
    response_usage,
)

__all__ = ["MessagesToResponsesStream", "response_event_to_sse"]

Event = dict[str, Any]

_TEXT, _CALL, _THINKING, _REDACTED, _SKIPPED = range(5)
_KINDS = {"text": _TEXT, "tool_use": _CALL, "thinking": _THINKING, "redacted_thinking": _REDACTED}


_FRAME_STARTS: dict[str, bytes] = {}


def response_event_to_sse(event: Event) -> bytes:
    """One Responses stream event as an SSE frame (``event:`` and ``data:`` lines)."""
    kind: str = event["type"]
    start = _FRAME_STARTS.get(kind)
    if start is None:
        start = b"event: " + kind.encode() + b"\ndata: "
        if len(_FRAME_STARTS) < 256:  # event types are few; a bound all the same
            _FRAME_STARTS[kind] = start
    return start + orjson.dumps(event) + b"\n\n"


class _Block:
    __slots__ = ("content_index", "item_id", "kind", "output_index", "pieces", "source")

    def __init__(self, kind: int, source: dict[str, Any], output_index: int, item_id: str) -> None:
        self.kind = kind
        self.source = source
        self.output_index = output_index
        self.item_id = item_id
        self.content_index = 0
        self.pieces: list[str] = []


class MessagesToResponsesStream:
    """Turn Anthropic stream events into Responses stream events, one event at a time.

    Feed each canonical event to ``feed`` and send what it returns (``response_event_to_sse``);
    when the upstream ends without ``message_stop``, or fails, send ``fail(...)``. Once
    ``finished``, ``message`` is the answer as an Anthropic assistant message (thinking signatures
    kept, for continuing the conversation) and ``response`` the final response object.

    Example::

        stream = MessagesToResponsesStream(shell)
        for event in upstream_events:
            for out in stream.feed(event):
                send(response_event_to_sse(out))
    """

    def __init__(self, shell: ResponseShell, *, clock: Callable[[], float] = time.time) -> None:
        self.shell = shell
        self._clock = clock
        self._sequence = 0
        self._model = ""
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._blocks: dict[int, _Block] = {}
        self._items: list[dict[str, Any]] = []
        """Output items, completed ones whole; the open message item gains parts as they close."""
        self._content: list[dict[str, Any]] = []
        self._message_index: int | None = None
        self._thinking_chars = 0
        self.finished = False
        self.response: dict[str, Any] | None = None

    @property
    def message(self) -> dict[str, Any]:
        """The answer so far as an Anthropic assistant message."""
        return {"role": "assistant", "content": list(self._content)}

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        output = list(self._items) if status != "in_progress" else []
        return response_object(self.shell, model=self._model, status=status, output=output, **extra)

    def feed(self, event: dict[str, Any]) -> list[Event]:
        """The Responses events for one Anthropic event (none for pings and unknown events)."""
        if self.finished:
            return []
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_start":
            return self._start(event)
        if kind == "content_block_stop":
            return self._stop(event)
        if kind == "message_start":
            message = event.get("message") or {}
            self._model = str(message.get("model", ""))
            self._usage.update(message.get("usage") or {})
            created = self._snapshot("in_progress", usage=None)
            return [
                self._event("response.created", response=created),
                self._event("response.in_progress", response=self._snapshot("in_progress")),
            ]
        if kind == "message_delta":
            delta = event.get("delta") or {}
            if delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            self._usage.update(event.get("usage") or {})
            return []
        if kind == "message_stop":
            return self._end()
        if kind == "error":
            error = event.get("error") or {}
            return self.fail(str(error.get("message", "")), str(error.get("type") or "api_error"))
        return []

    def _close_message(self, out: list[Event]) -> None:
        index = self._message_index
        if index is None:
            return
        self._message_index = None
        out.append(self._event("response.output_item.done", output_index=index, item=self._items[index]))

    def _start(self, event: dict[str, Any]) -> list[Event]:
        block = event.get("content_block") or {}
        kind = _KINDS.get(str(block.get("type")), _SKIPPED)
        out: list[Event] = []
        if kind == _TEXT:
            if self._message_index is None:
                index = self._message_index = len(self._items)
                added = message_item(self.shell, index, [], "in_progress")
                out.append(self._event("response.output_item.added", output_index=index, item=added))
                # The item as its done event will send it: parts are added as they close.
                self._items.append(message_item(self.shell, index, [], "completed"))
            index = self._message_index
            state = _Block(kind, block, index, self._items[index]["id"])
            state.content_index = len(self._items[index]["content"])
            self._blocks[event.get("index", -1)] = state
            out.append(
                self._event(
                    "response.content_part.added",
                    item_id=state.item_id,
                    output_index=index,
                    content_index=state.content_index,
                    part=output_text_part(""),
                )
            )
            if block.get("text"):
                out += self._delta({"index": event.get("index", -1), "delta": block})
            return out
        self._close_message(out)
        if kind == _SKIPPED:
            self._blocks[event.get("index", -1)] = _Block(kind, block, -1, "")
            target = block.get("to") if block.get("type") == "fallback" else None
            if isinstance(target, dict) and isinstance(target.get("model"), str):
                self._model = target["model"]  # the model that served the answer, as a JSON answer says
            return out
        index = len(self._items)
        if kind == _CALL:
            item = function_call_item(self.shell, index, block, "", "in_progress")
        else:
            item = reasoning_item(self.shell, index, None)
        self._items.append(item)
        state = _Block(kind, block, index, item["id"])
        self._blocks[event.get("index", -1)] = state
        out.append(self._event("response.output_item.added", output_index=index, item=item))
        if kind == _THINKING:
            state.source = {"type": "thinking", "thinking": "", "signature": block.get("signature", "")}
            if self.shell.summary:
                out.append(self._summary_event("response.reasoning_summary_part.added", state, part=""))
        return out

    def _summary_event(self, kind: str, state: _Block, *, part: str | None = None, **fields: Any) -> Event:
        if part is not None:
            fields["part"] = {"type": "summary_text", "text": part}
        return self._event(
            kind, item_id=state.item_id, output_index=state.output_index, summary_index=0, **fields
        )

    def _delta(self, event: dict[str, Any]) -> list[Event]:
        state = self._blocks.get(event.get("index", -1))
        delta = event.get("delta") or {}
        if state is None:
            return []
        kind = state.kind
        if kind == _TEXT:  # most events: built without the general helper
            text = delta.get("text")
            if not isinstance(text, str):
                return []
            state.pieces.append(text)
            sequence = self._sequence
            self._sequence = sequence + 1
            return [
                {
                    "type": "response.output_text.delta",
                    "sequence_number": sequence,
                    "item_id": state.item_id,
                    "output_index": state.output_index,
                    "content_index": state.content_index,
                    "delta": text,
                    "logprobs": [],
                }
            ]
        if kind == _CALL:
            partial = delta.get("partial_json")
            if not isinstance(partial, str) or not partial:
                return []
            state.pieces.append(partial)
            return [
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=state.item_id,
                    output_index=state.output_index,
                    delta=partial,
                )
            ]
        if kind == _THINKING:
            if delta.get("type") == "signature_delta":
                state.source["signature"] = delta.get("signature", "")
                return []
            thinking = delta.get("thinking")
            if not isinstance(thinking, str):
                return []
            state.pieces.append(thinking)
            if self.shell.summary:
                return [self._summary_event("response.reasoning_summary_text.delta", state, delta=thinking)]
        return []

    def _stop(self, event: dict[str, Any]) -> list[Event]:
        state = self._blocks.pop(event.get("index", -1), None)
        if state is None or state.kind == _SKIPPED:
            return []
        index, text = state.output_index, "".join(state.pieces)
        if state.kind == _TEXT:
            part = output_text_part(text)
            self._items[index]["content"].append(part)
            self._content.append({**state.source, "text": text})
            common = {"item_id": state.item_id, "output_index": index, "content_index": state.content_index}
            return [
                self._event("response.output_text.done", **common, text=text, logprobs=[]),
                self._event("response.content_part.done", **common, part=part),
            ]
        out: list[Event] = []
        if state.kind == _CALL:
            tool_input, whole = _tool_input(text)
            # A call cut short sends what parses of its arguments, as a JSON answer would.
            arguments = text if whole else dumps(tool_input)
            self._content.append({**state.source, "input": tool_input})
            item = function_call_item(self.shell, index, state.source, arguments, "completed")
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=state.item_id,
                    output_index=index,
                    name=item["name"],
                    arguments=arguments,
                )
            )
        else:
            if state.kind == _THINKING:
                state.source["thinking"] = text
                self._thinking_chars += len(text)
                if self.shell.summary:
                    out.append(self._summary_event("response.reasoning_summary_text.done", state, text=text))
                    out.append(self._summary_event("response.reasoning_summary_part.done", state, part=text))
            self._content.append(state.source)
            item = reasoning_item(self.shell, index, state.source)
        self._items[index] = item
        out.append(self._event("response.output_item.done", output_index=index, item=item))
        return out

    def _end(self) -> list[Event]:
        out: list[Event] = []
        for index in list(self._blocks):  # the live API leaves a block cut by max_tokens unstopped
            out += self._stop({"index": index})
        self._close_message(out)
        status, reason = response_status(self._stop_reason)
        if status == "incomplete" and self._items and "status" in self._items[-1]:
            self._items[-1] = {**self._items[-1], "status": "incomplete"}
        self.response = self._snapshot(
            status,
            usage=response_usage(self._usage, self._thinking_chars),
            incomplete_reason=reason,
            completed_at=int(self._clock()),
        )
        self.finished = True
        terminal = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(terminal, response=self.response))
        return out

    def fail(self, message: str, code: str = "api_error") -> list[Event]:
        """The ``error`` and ``response.failed`` events for a stream that cannot go on."""
        if self.finished:
            return []
        self.finished = True
        error = {"type": code, "code": code, "message": message, "param": None}
        self.response = self._snapshot(
            "failed",
            usage=response_usage(self._usage, self._thinking_chars),
            error={"code": code, "message": message},
        )
        return [
            self._event("error", error=error),
            self._event("response.failed", response=self.response),
        ]


def _tool_input(arguments: str) -> tuple[dict[str, Any], bool]:
    """The tool input of streamed ``arguments``, and whether they were whole JSON (else: what
    parses of them, as when the answer was cut)."""
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        try:
            value = parse_partial_json(arguments) if arguments.strip() else None
        except ValueError:
            value = None
        return (value if isinstance(value, dict) else {}), False
    return (value, True) if isinstance(value, dict) else ({}, False)
