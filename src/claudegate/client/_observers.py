"""Stream observers: callbacks that watch a stream as it runs and can never break it.

An observer implements any of ``on_text``, ``on_tool_use``, ``on_message`` and ``on_error``
(sync functions). An exception raised by an observer is logged and swallowed: the stream goes on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["CallbackObserver", "StreamObserver", "TextWindowObserver"]

log = logging.getLogger("claudegate.client")

_SENTENCE_END = re.compile(r"[.!?…。！？][\"')\]]*\s")


class StreamObserver:
    """Base class: override the hooks you need; each gets what the stream just produced."""

    def on_text(self, text: str) -> None:
        """A piece of text arrived (a ``text_delta``)."""

    def on_tool_use(self, block: dict[str, Any]) -> None:
        """A ``tool_use`` block finished; its ``input`` is parsed."""

    def on_message(self, message: dict[str, Any]) -> None:
        """The stream finished with this final message."""

    def on_error(self, error: BaseException) -> None:
        """The stream failed with this error (it is raised to the caller as well)."""


class CallbackObserver(StreamObserver):
    """An observer made of plain functions: ``CallbackObserver(on_text=print)``."""

    def __init__(
        self,
        *,
        on_text: Callable[[str], object] | None = None,
        on_tool_use: Callable[[dict[str, Any]], object] | None = None,
        on_message: Callable[[dict[str, Any]], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
    ) -> None:
        self._on_text = on_text
        self._on_tool_use = on_tool_use
        self._on_message = on_message
        self._on_error = on_error

    def on_text(self, text: str) -> None:
        if self._on_text is not None:
            self._on_text(text)

    def on_tool_use(self, block: dict[str, Any]) -> None:
        if self._on_tool_use is not None:
            self._on_tool_use(block)

    def on_message(self, message: dict[str, Any]) -> None:
        if self._on_message is not None:
            self._on_message(message)

    def on_error(self, error: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(error)


class TextWindowObserver(StreamObserver):
    """Hands the text over in windows while the stream runs, for real-time analysis.

    A window closes when it reaches ``every`` characters or, with ``at_sentence_end``, at the end
    of a sentence — whichever comes first. What is left is handed over when the stream ends.

    >>> TextWindowObserver(moderate, every=200)
    """

    def __init__(
        self, callback: Callable[[str], object], *, every: int = 200, at_sentence_end: bool = True
    ) -> None:
        if every < 1:
            raise ValueError("every must be >= 1")
        self._callback = callback
        self._every = every
        self._at_sentence_end = at_sentence_end
        self._buffer = ""
        self.windows = 0

    def _emit(self, text: str) -> None:
        self.windows += 1
        self._callback(text)

    def on_text(self, text: str) -> None:
        self._buffer += text
        while self._buffer:
            cut = 0
            if self._at_sentence_end:
                match = _SENTENCE_END.search(self._buffer, 0, min(len(self._buffer), self._every + 1))
                if match is not None:
                    cut = match.end()
            if not cut and len(self._buffer) >= self._every:
                cut = self._every
            if not cut:
                return
            window, self._buffer = self._buffer[:cut], self._buffer[cut:]
            self._emit(window)

    def on_message(self, message: dict[str, Any]) -> None:
        self.flush()

    def on_error(self, error: BaseException) -> None:
        self.flush()

    def flush(self) -> None:
        """Hand over whatever text is still held."""
        if self._buffer:
            window, self._buffer = self._buffer, ""
            self._emit(window)


def notify(observers: Sequence[StreamObserver], hook: str, value: Any) -> None:
    """Call ``hook`` on every observer, logging (never raising) what an observer raises."""
    for observer in observers:
        try:
            getattr(observer, hook)(value)
        except Exception:
            log.exception("stream observer %s.%s raised; the stream continues", type(observer).__name__, hook)
