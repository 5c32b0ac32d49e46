"""Explicit timeouts: connect, read (silence between bytes) and total."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Timeout"]


@dataclass(frozen=True, slots=True)
class Timeout:
    """How long a request may take, in seconds (None: no limit).

    - ``connect``: to open the connection.
    - ``read``: the longest silence allowed between two reads, in a JSON body or a stream; this is
      what catches a stalled stream.
    - ``total``: the whole of a non-streamed request, and a stream until its response headers.
      A stream that keeps sending is never cut by ``total``; only ``read`` bounds it.

    >>> Timeout(total=30, connect=2, read=10)
    """

    total: float | None = 600.0
    connect: float | None = 5.0
    read: float | None = 600.0

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """A ``Timeout`` from a number (the same limit for total and read) or None (no limits)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, connect=None, read=None)
        seconds = float(value)
        return cls(total=seconds, connect=min(5.0, seconds), read=seconds)
