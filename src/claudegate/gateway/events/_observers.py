"""Stream observers: pipelines fed with the text of the streams the gateway serves, while they run.

A pipeline that takes ``stream.window`` gets the answer's text in windows — every ``chars``
characters, at sentence ends, or whichever comes first (``StreamWindow``) — and one that takes
``stream.completed`` gets the whole text once the stream has ended; ``streams`` narrows either to
some models or keys. Every surface's streams are observed (Anthropic and OpenAI SSE, WebSocket,
Socket.IO, GraphQL): the core hands each observed stream's text to a sink here
(``claudegate.gateway.core.StreamObserver``).

Off the hot path: the sink only appends text and cuts windows; each window (and the completed
text) is put on one bounded queue without waiting, and a background task publishes what waits
through ``EventBus.publish`` as the stream's own key (its runs use that key's limits and budget,
and read as its events). When the queue is full the newest is dropped and counted
(``claudegate_stream_windows_dropped_total``): a slow pipeline never holds up a client's stream,
and nothing is queued without bound. Events are ``<request id>.<window>.<index>`` and
``<request id>.completed`` (idempotent per key).

Payloads::

    stream.window     {"request_id", "key_id", "model", "index", "text", "start", "end", "final"}
    stream.completed  {"request_id", "key_id", "model", "text", "chars", "truncated", "windows",
                       "finished", "stop_reason", "status"}
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from claudegate.gateway._config import StreamObserversConfig
from claudegate.gateway._metrics import Counter
from claudegate.gateway.core import Call, Principal
from claudegate.gateway.events._model import Event
from claudegate.gateway.events._pipelines import (
    STREAM_COMPLETED,
    STREAM_WINDOW,
    Pipeline,
    Pipelines,
    StreamWindow,
)

if TYPE_CHECKING:
    from claudegate.gateway.events._bus import Accepted

__all__ = ["Publish", "StreamObservers"]

log = logging.getLogger("claudegate.gateway")

Publish = Callable[..., Awaitable[list["Accepted"]]]
"""``EventBus.publish``: (principal, events, *, only=pipeline labels) → what was accepted."""

_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s")
"""Where a sentence ends: its closing marks, then the space (or line end) after them."""
_LONGEST_SENTENCE = 10_000
"""Characters after which a sentence window ends anyway (text with no sentence end)."""
_AT_ONCE = 100
"""Events published in one call at most."""


class _Cutter:
    """Cuts one stream's text into the windows of one ``StreamWindow``."""

    __slots__ = ("buffer", "chars", "index", "labels", "scanned", "sentences", "start", "tag")

    def __init__(self, window: StreamWindow, labels: tuple[str, ...]) -> None:
        self.chars = window.chars
        self.sentences = window.sentences
        self.labels = labels
        self.tag = _tag(window)
        self.buffer = ""
        self.start = 0
        """Where ``buffer`` starts in the whole text."""
        self.index = 0
        self.scanned = 0
        """How much of ``buffer`` has been looked at for a sentence end."""

    def feed(self, text: str) -> list[tuple[int, int, str]] | None:
        """The windows ``text`` completes, (index, start, text); None when it completes none."""
        buffer = self.buffer = self.buffer + text
        limit = self.chars if self.chars is not None else _LONGEST_SENTENCE
        windows = None
        while buffer:
            cut = 0
            if self.sentences:
                found = _SENTENCE_END.search(buffer, max(self.scanned - 4, 0))
                cut = found.end() if found is not None and found.end() <= limit else 0
                self.scanned = len(buffer)
            if not cut and len(buffer) >= limit:
                cut = limit
            if not cut:
                break
            if windows is None:
                windows = []
            windows.append(self._window(cut))
            buffer = self.buffer
        return windows

    def rest(self) -> tuple[int, int, str] | None:
        """The last window: what is left at the stream's end."""
        return self._window(len(self.buffer)) if self.buffer else None

    def _window(self, cut: int) -> tuple[int, int, str]:
        window = (self.index, self.start, self.buffer[:cut])
        self.buffer = self.buffer[cut:]
        self.start += cut
        self.index += 1
        self.scanned = 0
        return window


def _tag(window: StreamWindow) -> str:
    """A window kind's part of its events' ids: ``c500``, ``s``, ``c500s``."""
    return (f"c{window.chars}" if window.chars is not None else "") + ("s" if window.sentences else "")


class _Watch:
    """One observed stream (see the module docstring)."""

    __slots__ = ("call", "completed", "cutters", "length", "observers", "pieces", "prefix", "truncated")

    def __init__(
        self, observers: StreamObservers, call: Call, cutters: list[_Cutter], completed: tuple[str, ...]
    ) -> None:
        self.observers = observers
        self.call = call
        self.cutters = cutters
        self.completed = completed
        self.pieces: list[str] = []
        self.length = 0
        self.truncated = False
        self.prefix = call.request_id.replace("/", "_")[:120]

    def text(self, text: str) -> None:
        if self.completed:
            room = self.observers.config.max_chars - self.length
            if len(text) > room:
                self.truncated = True
            if room > 0:
                self.pieces.append(text[:room])
        self.length += len(text)
        for cutter in self.cutters:
            windows = cutter.feed(text)
            if windows is not None:
                for window in windows:
                    self._window(cutter, window, final=False)

    def close(self, finished: bool, stop_reason: str | None) -> None:
        for cutter in self.cutters:
            window = cutter.rest()
            if window is not None:
                self._window(cutter, window, final=True)
        if not self.completed:
            return
        outcome = self.call.outcome
        payload = {
            **self._about(),
            "text": "".join(self.pieces),
            "chars": self.length,
            "truncated": self.truncated,
            "windows": {cutter.tag: cutter.index for cutter in self.cutters},
            "finished": finished,
            "stop_reason": stop_reason,
            "status": outcome.status,
        }
        event = Event(STREAM_COMPLETED, f"{self.prefix}.completed", payload)
        self.observers.offer(self.call.principal, event, self.completed)

    def _about(self) -> dict[str, Any]:
        call = self.call
        return {"request_id": call.request_id, "key_id": call.principal.account, "model": call.model}

    def _window(self, cutter: _Cutter, window: tuple[int, int, str], *, final: bool) -> None:
        index, start, text = window
        payload = {
            **self._about(),
            "index": index,
            "text": text,
            "start": start,
            "end": start + len(text),
            "final": final,
        }
        event = Event(STREAM_WINDOW, f"{self.prefix}.{cutter.tag}.{index}", payload)
        self.observers.offer(self.call.principal, event, cutter.labels)


class StreamObservers(Collector):
    """The stream observers of one gateway: which streams are watched, the queue, the publisher."""

    def __init__(self, pipelines: Pipelines, config: StreamObserversConfig, publish: Publish) -> None:
        self.pipelines = pipelines
        self.config = config
        self.publish = publish
        """Where events go (``EventBus.publish``; a test may slow it down)."""
        self.queue: asyncio.Queue[tuple[Principal, Event, tuple[str, ...]]] = asyncio.Queue(config.queue)
        self.dropped = Counter(
            "claudegate_stream_windows_dropped",
            "Stream events (windows, completed texts) dropped because the queue to the pipelines was full.",
            ("type",),
        )
        self.published = Counter(
            "claudegate_stream_events",
            "Stream events handed to the event bus, by type and outcome (accepted, or failed).",
            ("type", "outcome"),
        )
        self._windows: list[tuple[StreamWindow, list[Pipeline]]] = []
        self._completed: list[Pipeline] = []
        self._task: asyncio.Task[None] | None = None

    def refresh(self) -> bool:
        """Read the pipelines again; whether any observes streams."""
        windows: dict[StreamWindow, list[Pipeline]] = {}
        completed: list[Pipeline] = []
        for pipeline in self.pipelines:
            window = pipeline.stream_window
            if window is not None:
                windows.setdefault(window, []).append(pipeline)
            if pipeline.matches(STREAM_COMPLETED):
                completed.append(pipeline)
        self._windows = list(windows.items())
        self._completed = completed
        return bool(windows or completed)

    def open(self, call: Call) -> _Watch | None:
        """A stream's sink, when a pipeline observes its model and key."""
        model, key_id = call.model, call.principal.account
        cutters = []
        for window, pipelines in self._windows:
            labels = tuple(p.label for p in pipelines if p.observes(model, key_id))
            if labels:
                cutters.append(_Cutter(window, labels))
        completed = tuple(p.label for p in self._completed if p.observes(model, key_id))
        if not cutters and not completed:
            return None
        return _Watch(self, call, cutters, completed)

    def offer(self, principal: Principal, event: Event, labels: tuple[str, ...]) -> None:
        """Queue ``event`` for the pipelines ``labels`` without waiting; dropped and counted when full."""
        queue = self.queue
        if queue.full():
            self.dropped.inc((event.type,))
            return
        queue.put_nowait((principal, event, labels))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._publishing())

    async def close(self) -> None:
        """Stop publishing (what still waits is dropped with the process)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait((task,))

    async def _publishing(self) -> None:
        queue = self.queue
        while True:
            taken = [await queue.get()]
            while len(taken) < _AT_ONCE and not queue.empty():
                taken.append(queue.get_nowait())
            for principal, events, labels in _grouped(taken):
                await self._publish(principal, events, labels)

    async def _publish(self, principal: Principal, events: Sequence[Event], labels: Collection[str]) -> None:
        try:
            await self.publish(principal, events, only=labels)
        except Exception as exc:
            for event in events:
                self.published.inc((event.type, "failed"))
            log.warning("publishing %d stream events failed: %s", len(events), _reason(exc))
            return
        for event in events:
            self.published.inc((event.type, "accepted"))

    def collect(self) -> Iterator[Metric]:
        yield self.dropped.family()
        yield self.published.family()
        waiting = GaugeMetricFamily(
            "claudegate_stream_events_queued", "Stream events waiting to be handed to the event bus."
        )
        waiting.add_metric([], self.queue.qsize())
        yield waiting


def _grouped(
    taken: list[tuple[Principal, Event, tuple[str, ...]]],
) -> list[tuple[Principal, list[Event], tuple[str, ...]]]:
    """The events taken, by key and pipelines, in their order (one publish each)."""
    groups: dict[tuple[str, str | None, tuple[str, ...]], tuple[Principal, list[Event], tuple[str, ...]]] = {}
    for principal, event, labels in taken:
        key = (principal.owner, principal.credential_digest, labels)
        group = groups.get(key)
        if group is None:
            group = groups[key] = (principal, [], labels)
        group[1].append(event)
    return list(groups.values())


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None)
    return f"{type(exc).__name__}: {message}" if isinstance(message, str) else type(exc).__name__
