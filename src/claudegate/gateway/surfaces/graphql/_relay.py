"""A subscription's events handed straight to the transport, past the per-event execution.

When the transport runs an operation it can relay itself (``graphql-transport-ws``, see
``_transport_ws``), it sets a ``Takeover`` in the operation's task; the executor, for a subscription
whose events ``EventPlan`` can build, wraps the source event stream in a ``Tap`` and leaves it
there. The transport reads events from the tap's source itself, and gives back whatever it does not
relay (an event the plan cannot vouch for, an error of the stream, its end) through the tap, which
the normal path (graphql-core's event mapping, strawberry's result handling) then reads as if it
had come from the source: those results are exactly what they would have been.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator

    from claudegate.gateway.surfaces.graphql._events import EventPlan

__all__ = ["TAKEOVER", "Takeover", "Tap"]


class Tap:
    """A subscription's source event stream, readable by the transport and by the normal path."""

    __slots__ = ("_error", "_event", "_held", "ended", "plan", "source")

    def __init__(self, source: AsyncIterable[Any], plan: EventPlan) -> None:
        self.source: AsyncIterator[Any] = aiter(source)
        self.plan = plan
        self.ended = False
        self._held = False
        self._event: Any = None
        self._error: BaseException | None = None

    @property
    def open(self) -> bool:
        """Whether the transport may read the source (nothing given back, not ended)."""
        return not self.ended and not self._held

    def give_back(self, event: Any) -> None:
        """``event`` goes the normal way: the next read of the tap returns it."""
        self._held, self._event = True, event

    def fail(self, error: BaseException) -> None:
        """The source raised ``error``: the next read of the tap raises it."""
        self._held, self._error = True, error

    def end(self) -> None:
        """The source is exhausted: the next read of the tap ends the stream."""
        self.ended = True

    def __aiter__(self) -> Tap:
        return self

    async def __anext__(self) -> Any:
        if self._held:
            error, event = self._error, self._event
            self._held, self._event, self._error = False, None, None
            if error is not None:
                raise error
            return event
        if self.ended:
            raise StopAsyncIteration
        return await self.source.__anext__()

    async def aclose(self) -> None:
        close = getattr(self.source, "aclose", None)
        if close is not None:
            await close()


class Takeover:
    """One operation's offer to relay its events; ``tap`` is set when the executor accepts."""

    __slots__ = ("tap",)

    def __init__(self) -> None:
        self.tap: Tap | None = None


TAKEOVER: ContextVar[Takeover | None] = ContextVar("claudegate_graphql_takeover", default=None)
"""Set by a transport in an operation's task."""
