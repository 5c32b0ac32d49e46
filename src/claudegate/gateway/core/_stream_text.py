"""The text of the streams the core serves, handed to an observer as it passes (stream observers).

With ``GatewayCore.stream_observer`` set, each stream asks it for a sink when it is made (``open``:
None when nobody observes that stream), feeds the sink the text of the answer as it goes by —
whichever way the surface reads it: canonical events, the upstream's own Anthropic SSE bytes or
event pairs, or an OpenAI upstream's own chunks — and closes it once, when the stream settles. A
sink must never block nor raise into the stream: it appends and hands its work off. Without an
observer, a stream costs one attribute read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from claudegate.translate import finish_reason_to_stop_reason

if TYPE_CHECKING:
    from claudegate.gateway.core._call import Call
    from claudegate.sse import ServerSentEvent

__all__ = ["StreamObserver", "StreamSink", "StreamText"]

log = logging.getLogger("claudegate.gateway")


class StreamSink(Protocol):
    """Where one observed stream's text goes."""

    def text(self, text: str) -> None:
        """The next piece of the answer's text (never blocks)."""

    def close(self, finished: bool, stop_reason: str | None) -> None:
        """The stream has ended (``finished``: the answer is whole), with ``stop_reason``."""


class StreamObserver(Protocol):
    """Decides which streams are observed."""

    def open(self, call: Call) -> StreamSink | None:
        """The sink of the stream ``call`` is answered with, or None when nobody observes it."""


class StreamText:
    """Reads the text deltas off a stream, in each form ``StreamReply`` reads it, into a sink.

    A sink that raises is logged and let go: the stream goes on unobserved.
    """

    __slots__ = ("chat_stop_reason", "sink")

    def __init__(self, sink: StreamSink) -> None:
        self.sink: StreamSink | None = sink
        self.chat_stop_reason: str | None = None
        """An OpenAI stream's ``finish_reason``, as a stop reason (the core reads none off it)."""

    @classmethod
    def of(cls, observer: StreamObserver, call: Call) -> StreamText | None:
        try:
            sink = observer.open(call)
        except Exception:
            log.exception("a stream observer failed to open for %s", call.request_id)
            return None
        return cls(sink) if sink is not None else None

    def _feed(self, pieces: Iterable[str]) -> None:
        sink = self.sink
        if sink is None:
            return
        try:
            for piece in pieces:
                if piece:
                    sink.text(piece)
        except Exception:
            log.exception("a stream observer failed: the stream goes on unobserved")
            self.sink = None

    def events(self, batch: list[dict[str, Any]]) -> None:
        """Canonical events (the hot one of these readers: a plain loop, no generator)."""
        sink = self.sink
        if sink is None:
            return
        try:
            for event in batch:
                if event.get("type") == "content_block_delta":
                    delta = event.get("delta")
                    if isinstance(delta, dict) and delta.get("type") == "text_delta":
                        text = delta.get("text")
                        if isinstance(text, str) and text:
                            sink.text(text)
        except Exception:
            log.exception("a stream observer failed: the stream goes on unobserved")
            self.sink = None

    def sse(self, events: list[ServerSentEvent]) -> None:
        """The upstream's own Anthropic SSE events (only text deltas are decoded)."""
        self._feed(
            _delta_text(orjson.loads(sse.data)) for sse in events if sse.event == "content_block_delta"
        )

    def pairs(self, pairs: list[tuple[str, str]]) -> None:
        """(event type, event JSON) pairs."""
        self._feed(_delta_text(orjson.loads(data)) for kind, data in pairs if kind == "content_block_delta")

    def chat(self, frames: bytes) -> None:
        """Whole OpenAI SSE frames: the first choice's ``delta.content`` (and its finish reason)."""
        self._feed(self._chat_text(frames))

    def close(self, finished: bool, stop_reason: str | None) -> None:
        sink, self.sink = self.sink, None
        if sink is None:
            return
        try:
            sink.close(finished, stop_reason or self.chat_stop_reason)
        except Exception:
            log.exception("a stream observer failed at the end of a stream")

    def _chat_text(self, frames: bytes) -> Iterable[str]:
        for choice in _first_choices(frames):
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str):
                yield content
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                self.chat_stop_reason = finish_reason_to_stop_reason(reason)


def _delta_text(event: Any) -> str:
    delta = event.get("delta") if isinstance(event, dict) else None
    if isinstance(delta, dict) and delta.get("type") == "text_delta":
        text = delta.get("text")
        return text if isinstance(text, str) else ""
    return ""


def _first_choices(frames: bytes) -> Iterable[dict[str, Any]]:
    """The first choice of each chunk of whole OpenAI SSE frames."""
    for line in frames.splitlines():
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if not data.startswith(b"{"):
            continue  # [DONE]
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                yield choice
