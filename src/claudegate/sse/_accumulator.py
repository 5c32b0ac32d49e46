"""Build the final Anthropic message from its stream events, refusing orders that cannot happen.

The message comes out as the official SDK's (beta) stream helper builds it: text and thinking
appended, tool input parsed from the concatenated ``partial_json`` once the block stops (the best
partial parse when ``max_tokens`` cut the block open), signatures and citations kept, a fallback
block relabelling ``model``, ``message_delta`` overwriting stop fields and merging its cumulative
usage. Block and delta types this module does not know are kept, never dropped: an unknown block
as sent, an unknown delta by writing its fields onto its block.

Works on plain decoded-JSON dicts and does no I/O; the events fed in are never modified.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from claudegate.errors import StreamProtocolError, error_from_envelope
from claudegate.sse._partial_json import parse_partial_json

__all__ = ["MessageAccumulator"]

_TOOL_INPUT_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})

# Which block types each known delta type may be applied to.
_DELTA_FITS: dict[str, frozenset[str]] = {
    "text_delta": frozenset({"text"}),
    "citations_delta": frozenset({"text"}),
    "input_json_delta": _TOOL_INPUT_BLOCKS,
    "thinking_delta": frozenset({"thinking"}),
    "signature_delta": frozenset({"thinking"}),
    "compaction_delta": frozenset({"compaction"}),
}

# Deltas that append text to one field of the block; their fragments are joined lazily, since
# repeated ``str +=`` on a dict value copies the whole text every time.
_APPENDING_DELTAS = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}

# message_delta fields the SDK always writes, so an omitted one resets the snapshot's value to None.
_STOP_FIELDS = ("stop_reason", "stop_sequence", "stop_details")


class MessageAccumulator:
    """Feed it each decoded Anthropic stream event; read the message built so far from ``message``.

    >>> accumulator = MessageAccumulator()
    >>> for event in events:  # dicts, e.g. ``ServerSentEvent.json()`` of each frame
    ...     accumulator.feed(event)
    >>> accumulator.done, accumulator.message["content"]

    Raises ``StreamProtocolError`` when the events come in an order a valid stream cannot have,
    and the matching ``APIStatusError`` for an ``error`` event. ``ping`` and unknown event types
    are ignored. A message_delta that arrives while a block is still open (the live API does that
    when ``max_tokens`` cuts a block) closes the block with what it has.
    """

    __slots__ = ("_block_start_input", "_finished", "_message", "_message_delta_seen", "_open", "_parts")

    def __init__(self) -> None:
        self._message: dict[str, Any] | None = None
        self._open: int | None = None
        # Fragments appended to the open block's text, thinking or tool JSON: (field, fragments).
        self._parts: tuple[str, list[str]] | None = None
        self._block_start_input: Any = None
        self._message_delta_seen = False
        self._finished: str | None = None

    @property
    def done(self) -> bool:
        """Whether ``message_stop`` has arrived: the message is complete."""
        return self._finished == "message_stop"

    @property
    def message(self) -> dict[str, Any]:
        """The message so far (the same dict, updated in place as events arrive).

        While a tool block is open its ``input`` is the best parse of the JSON received so far.
        """
        if self._message is None:
            raise StreamProtocolError("the stream has not sent message_start yet")
        if self._open is not None:
            self._settle_open_block(final=False)
        return self._message

    def feed(self, event: dict[str, Any]) -> None:
        """Apply one stream event to the message."""
        if not isinstance(event, dict):
            raise StreamProtocolError(f"a stream event must be a JSON object, got {type(event).__name__}")
        kind = event.get("type")
        if not isinstance(kind, str):
            raise StreamProtocolError(f"stream event without a string 'type': {_preview(event)}")
        if self._finished is not None:
            raise StreamProtocolError(f"{kind} event after {self._finished}")
        if kind == "error":
            self._finished = "error"
            raise error_from_envelope(None, event)
        handler = _HANDLERS.get(kind)
        if handler is None:
            return
        if self._message is None and kind != "message_start":
            raise StreamProtocolError(f"{kind} event before message_start")
        handler(self, event)

    def _on_message_start(self, event: dict[str, Any]) -> None:
        if self._message is not None:
            raise StreamProtocolError("second message_start in one stream")
        message = event.get("message")
        if not isinstance(message, dict):
            raise StreamProtocolError(f"message_start without a message object: {_preview(event)}")
        content = message.get("content", [])
        if not isinstance(content, list) or not all(isinstance(block, dict) for block in content):
            raise StreamProtocolError("message_start content must be a list of blocks")
        copied = dict(message)
        copied["content"] = [dict(block) for block in content]
        if isinstance(copied.get("usage"), dict):
            copied["usage"] = dict(copied["usage"])
        self._message = copied

    def _on_block_start(self, event: dict[str, Any]) -> None:
        index = self._index(event)
        content: list[dict[str, Any]] = self._content()
        if self._open is not None:
            raise StreamProtocolError(
                f"content_block_start for index {index} while block {self._open} is still open"
            )
        if index != len(content):
            order = "repeats an index already used" if index < len(content) else "skips an index"
            raise StreamProtocolError(
                f"content_block_start index {index} {order}: the next block must have index {len(content)}"
            )
        block = event.get("content_block")
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise StreamProtocolError(f"content_block_start without a typed content_block: {_preview(event)}")
        block = dict(block)
        if isinstance(block.get("citations"), list):
            block["citations"] = list(block["citations"])
        content.append(block)
        self._open = index
        self._parts = None
        self._block_start_input = block.get("input")
        if block["type"] == "fallback":
            # The SDK relabels the snapshot with the model that actually served the response.
            target = block.get("to")
            if isinstance(target, dict) and isinstance(target.get("model"), str):
                self._snapshot()["model"] = target["model"]

    def _on_block_delta(self, event: dict[str, Any]) -> None:
        index = self._index(event)
        block = self._open_block(index, "content_block_delta")
        delta = event.get("delta")
        if not isinstance(delta, dict) or not isinstance(delta.get("type"), str):
            raise StreamProtocolError(f"content_block_delta without a typed delta: {_preview(event)}")
        delta_type: str = delta["type"]
        fits = _DELTA_FITS.get(delta_type)
        if fits is None:
            # Settle first so a field the unknown delta writes is not overwritten by fragments later.
            self._settle_open_block(final=False)
            if self._parts is not None and self._parts[0] != "partial_json":
                self._parts = None
            block.update((key, value) for key, value in delta.items() if key != "type")
            return
        if block["type"] not in fits:
            raise StreamProtocolError(f"{delta_type} does not fit a {block['type']} block (index {index})")
        field = _APPENDING_DELTAS.get(delta_type)
        if field is not None:
            fragment = delta.get(field)
            if not isinstance(fragment, str):
                raise StreamProtocolError(f"{delta_type} without a string {field!r} (index {index})")
            self._fragments(block, field).append(fragment)
        elif delta_type == "signature_delta":
            block["signature"] = delta.get("signature")
        elif delta_type == "citations_delta":
            citations = block.get("citations")
            if citations:
                citations.append(delta.get("citation"))
            else:
                block["citations"] = [delta.get("citation")]
        else:  # compaction_delta: the SDK replaces both fields with the delta's
            block["content"] = delta.get("content")
            block["encrypted_content"] = delta.get("encrypted_content")

    def _on_block_stop(self, event: dict[str, Any]) -> None:
        index = self._index(event)
        self._open_block(index, "content_block_stop")
        self._settle_open_block(final=True)
        self._open = None
        self._parts = None

    def _on_message_delta(self, event: dict[str, Any]) -> None:
        delta = event.get("delta")
        if not isinstance(delta, dict):
            raise StreamProtocolError(f"message_delta without a delta object: {_preview(event)}")
        self._close_cut_block()
        message = self._snapshot()
        for field in _STOP_FIELDS:
            message[field] = delta.get(field)
        for key, value in delta.items():
            if key not in _STOP_FIELDS and value is not None:
                message[key] = value
        for key, value in event.items():
            if key not in ("type", "delta", "usage") and value is not None:
                message[key] = value
        usage = event.get("usage")
        if isinstance(usage, dict):
            # Counts here are cumulative totals: they replace the message_start values, and a
            # count the delta leaves out (or sends as null) keeps its earlier value.
            merged = message.get("usage")
            merged = dict(merged) if isinstance(merged, dict) else {}
            merged.update((key, value) for key, value in usage.items() if value is not None)
            message["usage"] = merged
        self._message_delta_seen = True

    def _on_message_stop(self, event: dict[str, Any]) -> None:
        self._close_cut_block()
        self._finished = "message_stop"

    def _close_cut_block(self) -> None:
        if self._open is not None:
            self._settle_open_block(final=False, strict=True)
            self._open = None
            self._parts = None

    def _snapshot(self) -> dict[str, Any]:
        assert self._message is not None  # feed() lets no event but message_start through before it
        return self._message

    def _content(self) -> list[dict[str, Any]]:
        if self._message_delta_seen:
            raise StreamProtocolError("content block event after message_delta")
        content: list[dict[str, Any]] = self._snapshot()["content"]
        return content

    def _index(self, event: dict[str, Any]) -> int:
        index = event.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise StreamProtocolError(f"{event['type']} without a valid index: {_preview(event)}")
        return index

    def _open_block(self, index: int, kind: str) -> dict[str, Any]:
        content = self._content()
        if index == self._open:
            return content[index]
        if index < len(content):
            raise StreamProtocolError(f"{kind} for content block {index}, which has already stopped")
        raise StreamProtocolError(f"{kind} for content block {index}, which never started")

    def _fragments(self, block: dict[str, Any], field: str) -> list[str]:
        if self._parts is None:
            initial = block.get(field) if field != "partial_json" else None
            self._parts = (field, [initial] if isinstance(initial, str) and initial else [])
        return self._parts[1]

    def _settle_open_block(self, *, final: bool, strict: bool = False) -> None:
        """Write the open block's joined fragments into it: text as is, tool JSON parsed.

        ``final`` means the block stopped normally (its JSON must be whole); otherwise the JSON is
        parsed as far as it goes, raising only when ``strict`` (the block will not grow any more).
        """
        if self._parts is None or self._open is None:
            return
        field, fragments = self._parts
        block = self._snapshot()["content"][self._open]
        joined = "".join(fragments)
        if len(fragments) > 1:
            fragments[:] = [joined]
        if field != "partial_json":
            block[field] = joined
            return
        if not joined:
            # No JSON at all (or only "" fragments): the input the block started with, else {}.
            block["input"] = self._block_start_input if self._block_start_input is not None else {}
            return
        try:
            block["input"] = _parse_tool_input(joined, whole=final)
        except ValueError as exc:
            if final or strict:
                raise StreamProtocolError(
                    f"tool input of content block {self._open} is not valid JSON ({exc}): {joined[:200]!r}"
                ) from None


def _parse_tool_input(text: str, *, whole: bool) -> Any:
    # The standard library rather than orjson: orjson turns integers wider than 64 bits into floats.
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        if whole:
            raise
    return parse_partial_json(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _preview(event: dict[str, Any]) -> str:
    try:
        text = orjson.dumps(event, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # e.g. an integer wider than 64 bits
        text = repr(event)
    return text if len(text) <= 200 else text[:200] + "…"


_HANDLERS = {
    "message_start": MessageAccumulator._on_message_start,
    "content_block_start": MessageAccumulator._on_block_start,
    "content_block_delta": MessageAccumulator._on_block_delta,
    "content_block_stop": MessageAccumulator._on_block_stop,
    "message_delta": MessageAccumulator._on_message_delta,
    "message_stop": MessageAccumulator._on_message_stop,
}
