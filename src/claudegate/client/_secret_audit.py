"""The secret exposure audit: every deliberate reveal of a key, counted and remembered.

``ApiKey.reveal()`` is the only way to read a key's value, and each call is recorded here: the
key's fingerprint (a SHA-256 prefix, never the key), the purpose the caller named, where in the
code the reveal happened (module, function, line) and when. ``SECRET_AUDIT`` is the process-wide
audit every key reports to unless it was given its own; its ``total`` is a counter to export to
monitoring, and ``trail()`` the most recent reveals (the oldest are dropped past ``keep``).

Ordinary use reveals a key once per client (to build its auth header); a count that keeps
climbing points at code that reads the key again and again.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["SECRET_AUDIT", "SecretAudit", "SecretReveal"]

RevealListener = Callable[["SecretReveal"], None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SecretReveal:
    """One deliberate reveal of a key."""

    fingerprint: str
    """The key's fingerprint (``ApiKey.fingerprint()``): tells keys apart, cannot be reversed."""
    purpose: str
    """What the caller said the key was for (empty when it did not say)."""
    caller: str
    """Where it happened: ``module:function:line``."""
    at: datetime

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready form for logs and audit exports."""
        return {
            "fingerprint": self.fingerprint,
            "purpose": self.purpose,
            "caller": self.caller,
            "at": self.at.isoformat(),
        }


class SecretAudit:
    """Counts reveals of keys and keeps the latest ``keep`` of them.

    >>> SECRET_AUDIT.total                               # export as a monitoring counter
    >>> [r.caller for r in SECRET_AUDIT.trail(key.fingerprint())]

    ``clock`` gives the time of each reveal (injectable for tests). Safe to share between threads.
    """

    def __init__(self, *, keep: int = 1000, clock: Callable[[], datetime] = _utc_now) -> None:
        if keep < 1:
            raise ValueError("keep must be >= 1")
        self.clock = clock
        self._lock = threading.Lock()
        self._trail: deque[SecretReveal] = deque(maxlen=keep)
        self._counts: Counter[str] = Counter()
        self._total = 0
        self._listeners: list[RevealListener] = []

    def record(self, fingerprint: str, *, purpose: str = "", caller: str = "") -> SecretReveal:
        """Count one reveal (``ApiKey.reveal`` calls this) and tell the listeners."""
        reveal = SecretReveal(fingerprint, purpose, caller, self.clock())
        with self._lock:
            self._total += 1
            self._counts[fingerprint] += 1
            self._trail.append(reveal)
            listeners = tuple(self._listeners)
        for listener in listeners:
            listener(reveal)
        return reveal

    @property
    def total(self) -> int:
        """Reveals since the process started (or since ``reset``): a counter that only grows."""
        with self._lock:
            return self._total

    def count(self, fingerprint: str) -> int:
        """Reveals of the key with this fingerprint."""
        with self._lock:
            return self._counts[fingerprint]

    def by_fingerprint(self) -> dict[str, int]:
        """Reveals per key fingerprint."""
        with self._lock:
            return dict(self._counts)

    def trail(self, fingerprint: str | None = None) -> list[SecretReveal]:
        """The remembered reveals, oldest first (of one key when ``fingerprint`` is given)."""
        with self._lock:
            return [r for r in self._trail if fingerprint is None or r.fingerprint == fingerprint]

    def add_listener(self, listener: RevealListener) -> None:
        """Also call ``listener(reveal)`` on every reveal (e.g. to log it or bump a metric)."""
        with self._lock:
            self._listeners.append(listener)

    def reset(self) -> None:
        """Forget every count and reveal (listeners stay)."""
        with self._lock:
            self._total = 0
            self._counts.clear()
            self._trail.clear()


SECRET_AUDIT = SecretAudit()
"""The process-wide audit that every ``ApiKey`` reports to unless given its own."""
