"""Message threads as the API keeps them: each conversation in memory under its reply's ``id``.

A ``create`` request is answered as usual and its conversation (reply included) kept; a
``continue`` is answered as the whole request it stands for (kept ``system``, ``tools`` and
history, then the new messages). A reply can be continued once; a thread lives ``ttl`` seconds after
its last turn. Refusals carry ``error.details.error_code`` (see ``claudegate.translate.threads``):
an unknown or expired id is 404 ``thread_not_found``, a reply continued before is 400
``thread_already_continued``, a ``continue`` that repeats ``system`` or ``tools`` with other values
is 400 ``thread_fingerprint_mismatch``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from claudegate.errors import APIStatusError, error_from_envelope
from claudegate.simulator._errors import fail
from claudegate.translate import TranslationError
from claudegate.translate.threads import (
    ThreadError,
    ThreadParam,
    changed_create_only_fields,
    expand_continue,
    read_thread,
    reply_turn,
)

__all__ = ["ThreadBook"]

MAX_THREADS = 10_000
"""Replies kept at most; past it the oldest go first."""


def _refusal(error: ThreadError) -> APIStatusError:
    return error_from_envelope(error.status, error.envelope())


@dataclass(slots=True)
class _Held:
    system: Any
    tools: Any
    messages: list[Any]
    expires_at: float
    continued: bool = False


class ThreadBook:
    """The simulator's threads; thread-safe (batches run in a worker thread)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        """Seconds, for expiry (tests replace it)."""
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def expand(self, request: Any) -> tuple[Any, ThreadParam | None]:
        """The request to answer and its ``thread``: a ``continue`` made whole (``thread`` kept, so
        that the reply's id differs from a stateless twin's); raises the API's refusals."""
        if not isinstance(request, Mapping):
            return request, None
        try:
            param = read_thread(request)
        except TranslationError as exc:
            fail(exc.message)
        if param is None or param.kind == "create":
            return request, param
        assert param.previous_message_id is not None
        with self._lock:
            held = self._held.get(param.previous_message_id)
            if held is None or held.expires_at <= self.clock():
                raise _refusal(ThreadError.not_found(param.previous_message_id))
            if held.continued:
                raise _refusal(ThreadError.already_continued(param.previous_message_id))
            system, tools, history = held.system, held.tools, list(held.messages)
        changed = changed_create_only_fields(request, system, tools)
        if changed:
            raise _refusal(ThreadError.fingerprint_mismatch(changed))
        whole = expand_continue(request, system=system, tools=tools, history=history)
        return {**whole, "thread": request["thread"]}, param

    def record(self, request: Mapping[str, Any], param: ThreadParam, reply: Mapping[str, Any]) -> None:
        """Keep the conversation of an answered thread request under the reply's id."""
        now = self.clock()
        held = _Held(
            system=request.get("system"),
            tools=request.get("tools"),
            messages=[*request["messages"], reply_turn(reply)],
            expires_at=now + self.ttl,
        )
        with self._lock:
            previous = self._held.get(param.previous_message_id or "")
            if previous is not None:  # continued once: only that fact is kept
                previous.continued, previous.messages = True, []
            self._held.pop(reply["id"], None)
            self._held[reply["id"]] = held
            if len(self._held) > MAX_THREADS:
                for stale in [key for key, kept in self._held.items() if kept.expires_at <= now]:
                    del self._held[stale]
                while len(self._held) > MAX_THREADS:
                    del self._held[next(iter(self._held))]

    def clear(self) -> None:
        """Forget every thread."""
        with self._lock:
            self._held.clear()
