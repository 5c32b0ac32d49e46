"""Dashboard sessions: held in this process's memory, so they end when the gateway restarts (and a
replica does not know another's: log in on each, or pin the dashboard to one behind a balancer).

A session id is 32 random bytes; the store keeps only its SHA-256, so a session cannot be read back
out of it. Each session has its own CSRF token. A session ends after ``idle`` seconds without a
request, or ``lifetime`` seconds after login, whichever comes first. Failed logins are counted per
client address: past ``failures`` in ``window`` seconds, logins from it are refused until the
window slides.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LoginThrottle", "Session", "SessionSettings", "Sessions"]


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """How long a dashboard session lasts, and how many failed logins an address may make."""

    idle: float = 3_600.0
    lifetime: float = 12 * 3_600.0
    max_sessions: int = 1_000
    failures: int = 10
    window: float = 300.0


@dataclass(slots=True)
class Session:
    """One logged-in browser."""

    digest: str
    csrf: str
    created: float
    seen: float

    def accepts(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (compared in constant time)."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """The sessions of one gateway process (``clock``: seconds, injectable for tests)."""

    def __init__(self, settings: SessionSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._sessions: dict[str, Session] = {}

    def open(self) -> tuple[str, Session]:
        """A new session and its id (the id goes into the cookie and is not kept here)."""
        self._sweep()
        if len(self._sessions) >= self.settings.max_sessions:  # the oldest logins make room
            for digest in sorted(self._sessions, key=lambda d: self._sessions[d].created)[:1]:
                del self._sessions[digest]
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(_digest(session_id), secrets.token_urlsafe(32), now, now)
        self._sessions[session.digest] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of ``session_id`` (its idle time restarts), or None."""
        if not session_id:
            return None
        session = self._sessions.get(_digest(session_id))
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            del self._sessions[session.digest]
            return None
        session.seen = now
        return session

    def close(self, session_id: str | None) -> None:
        """End a session (logout)."""
        if session_id:
            self._sessions.pop(_digest(session_id), None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        settings = self.settings
        return now - session.seen >= settings.idle or now - session.created >= settings.lifetime

    def _sweep(self) -> None:
        now = self.clock()
        for digest in [d for d, session in self._sessions.items() if self._expired(session, now)]:
            del self._sessions[digest]


class LoginThrottle:
    """Failed logins per client address over a sliding window."""

    def __init__(self, settings: SessionSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        found = self._failures.get(address)
        if found is None:
            if len(self._failures) > 10_000:  # a flood of addresses must not grow this without bound
                self._failures.clear()
            found = self._failures[address] = deque()
        horizon = self.clock() - self.settings.window
        while found and found[0] <= horizon:
            found.popleft()
        return found

    def refused(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        recent = self._recent(address)
        if len(recent) < self.settings.failures:
            return None
        return max(recent[0] + self.settings.window - self.clock(), 1.0)

    def failed(self, address: str) -> None:
        self._recent(address).append(self.clock())
