"""Incremental server-sent events decoder (WHATWG "event stream interpretation"), bytes in, events out.

Line ends may be LF, CR LF or a lone CR, split anywhere across chunks, as may multi-byte UTF-8
characters. LF-only input (what every server we talk to sends) takes a fast path: whole frames are
cut on the blank line with one ``rfind`` per chunk and decoded in one go. Input containing CR is
normalised to LF first, so both paths share the same frame parser.

One deliberate difference from a browser: ``flush()`` dispatches a final frame that lacks its
closing blank line (recorded streams and some servers end that way) instead of dropping it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["SSEDecoder", "ServerSentEvent", "aiter_sse"]

_BOM = b"\xef\xbb\xbf"
_LF = 0x0A
_CR = 0x0D


@dataclass(slots=True)
class ServerSentEvent:
    """One dispatched server-sent event.

    ``event`` is None when the frame named no type (the spec's default ``message``), ``id`` is the
    stream's last event id at dispatch time (it persists across events, as the spec requires), and
    ``retry`` is the reconnection delay in milliseconds announced in this frame, if any.
    """

    event: str | None = None
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """The data decoded as JSON; surrounding whitespace (the live API pads some frames) is fine."""
        return orjson.loads(self.data)


class SSEDecoder:
    """Turn a byte stream into ``ServerSentEvent`` objects, chunk by chunk; does no I/O.

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b"event: ping\\ndata: {}\\n") + decoder.feed(b"\\n") + decoder.flush()
    [ServerSentEvent(event='ping', data='{}', id=None, retry=None)]

    Comment lines (``: keepalive``) never become events: they are counted in ``comments`` and, when
    given, passed to ``on_comment`` (without the colon and one leading space).
    """

    __slots__ = (
        "_bom_checked",
        "_buffer",
        "_data",
        "_event",
        "_frame_retry",
        "_last_event_id",
        "_on_comment",
        "_scan_from",
        "_skip_lf",
        "comments",
        "retry",
    )

    def __init__(self, *, on_comment: Callable[[str], None] | None = None) -> None:
        self._on_comment = on_comment
        self._buffer = bytearray()
        # Where the next search for a blank line may start: earlier bytes were already searched.
        self._scan_from = 0
        self._bom_checked = False
        # The previous chunk ended in CR, so an LF opening this one belongs to the same line end.
        self._skip_lf = False
        self._event: str | None = None
        self._data: list[str] = []
        self._frame_retry: int | None = None
        self._last_event_id: str | None = None
        self.comments = 0
        """How many comment lines have been seen."""
        self.retry: int | None = None
        """The reconnection delay (ms) the server last announced, if any."""

    @property
    def last_event_id(self) -> str | None:
        """The last event id the server set (what a reconnecting client sends as Last-Event-ID)."""
        return self._last_event_id

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume the next chunk and return the events it completed (often none, often several)."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if b"\r" in chunk:
            self._skip_lf = chunk[-1] == _CR
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer
        if not self._bom_checked:
            buffer += chunk
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                return []
            self._bom_checked = True
            if buffer.startswith(_BOM):
                del buffer[: len(_BOM)]
            return self._take_frames(0)
        if not buffer:
            # Common case: the chunk holds whole frames; decode it without copying it first.
            end = chunk.rfind(b"\n\n")
            if end < 0:
                buffer += chunk
                self._scan_from = len(chunk) - 1
                return []
            end += 2
            if end < len(chunk):
                buffer += chunk[end:]
                self._scan_from = len(buffer) - 1
                return self._frames(chunk[:end].decode("utf-8", "replace"))
            return self._frames(chunk.decode("utf-8", "replace"))
        scan_from = self._scan_from
        buffer += chunk
        return self._take_frames(scan_from)

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: dispatch what is pending and reset for a new stream (the last id is kept)."""
        events: list[ServerSentEvent] = []
        buffer = self._buffer
        if buffer:
            for line in buffer.decode("utf-8", "replace").split("\n"):
                self._line(line, events)
            buffer.clear()
        self._dispatch(events)
        self._scan_from = 0
        self._bom_checked = False
        self._skip_lf = False
        return events

    def _take_frames(self, scan_from: int) -> list[ServerSentEvent]:
        buffer = self._buffer
        end = buffer.rfind(b"\n\n", scan_from)
        if end < 0:
            self._scan_from = max(len(buffer) - 1, 0)
            return []
        end += 2
        text = buffer[:end].decode("utf-8", "replace")
        del buffer[:end]
        # What is left holds no blank line; only its last byte can start one with the next chunk.
        self._scan_from = max(len(buffer) - 1, 0)
        return self._frames(text)

    def _frames(self, text: str) -> list[ServerSentEvent]:
        # ``text`` ends with a blank line, so every piece but the last is a whole frame, and the
        # last one is "" or a lone "\n" (an empty line with nothing pending: a no-op).
        events: list[ServerSentEvent] = []
        append = events.append
        last_id = self._last_event_id
        frames = text.split("\n\n")
        frames.pop()
        for frame in frames:
            # The two shapes nearly every frame has, decoded without the per-line state machine.
            if frame.startswith("event: "):
                newline = frame.find("\n")
                if (
                    newline > 0
                    and frame.startswith("data: ", newline + 1)
                    and frame.find("\n", newline + 1) < 0
                ):
                    append(ServerSentEvent(frame[7:newline] or None, frame[newline + 7 :], last_id))
                    continue
            elif frame.startswith("data: ") and "\n" not in frame:
                append(ServerSentEvent(None, frame[6:], last_id))
                continue
            for line in frame.split("\n"):
                self._line(line, events)
            self._dispatch(events)
            last_id = self._last_event_id
        return events

    def _line(self, line: str, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        colon = line.find(":")
        if colon == 0:
            self.comments += 1
            if self._on_comment is not None:
                self._on_comment(line[2:] if line.startswith(" ", 1) else line[1:])
            return
        if colon < 0:
            field, value = line, ""
        else:
            field = line[:colon]
            value = line[colon + 2 :] if line.startswith(" ", colon + 1) else line[colon + 1 :]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._last_event_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self._frame_retry = self.retry = int(value)

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        if self._data:
            data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
            events.append(ServerSentEvent(self._event or None, data, self._last_event_id, self._frame_retry))
            self._data = []
        self._event = None
        self._frame_retry = None


async def aiter_sse(
    chunks: AsyncIterable[bytes], *, on_comment: Callable[[str], None] | None = None
) -> AsyncIterator[ServerSentEvent]:
    """Decode an async byte stream (e.g. an HTTP response body) into events as they complete.

    >>> async for event in aiter_sse(response.content.iter_any()):
    ...     print(event.event, event.json())
    """
    decoder = SSEDecoder(on_comment=on_comment)
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.flush():
        yield event
