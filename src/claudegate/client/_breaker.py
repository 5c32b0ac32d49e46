"""Circuit breaker: stop calling an upstream that keeps failing, then probe it before trusting it again.

States::

    closed ──(failure threshold reached)──► open ──(open duration over)──► half_open
      ▲                                       ▲                                │
      └──────────(every probe succeeded)──────┼────────(a probe failed)────────┘

- **closed**: calls pass; failures are counted, either consecutively (``window=None``) or within
  the last ``window`` seconds.
- **open**: calls are refused with ``CircuitOpenError(retry_after=...)`` without being sent. The
  circuit stays open for ``open_duration`` seconds, or longer when the failure that opened it
  was a 429/529 whose ``retry-after`` asks for longer.
- **half_open**: up to ``half_open_probes`` calls are let through at a time; when that many have
  succeeded the circuit closes, the first failure opens it again.

One lock guards the state and no await happens under it, so one breaker can be shared by tasks
and threads alike. State-change callbacks run after the lock is released.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from claudegate.client._retry import RetryPolicy
from claudegate.errors import APIConnectionError, APIStatusError, CircuitOpenError

__all__ = ["CircuitBreaker", "CircuitState", "is_failure_status", "is_upstream_failure"]

log = logging.getLogger("claudegate.client.breaker")
T = TypeVar("T")

StateListener = Callable[["CircuitBreaker", "CircuitState", "CircuitState"], None]
"""Called as ``listener(breaker, old_state, new_state)`` on every transition."""

_RETRY_AFTER_READER = RetryPolicy(max_retry_after=3600.0)


class CircuitState(enum.Enum):
    """Where a circuit breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def is_upstream_failure(exc: BaseException) -> bool:
    """Whether an error says the upstream is unwell (not that the request was wrong).

    Connection errors, timeouts, 408, 429 and 5xx count; other 4xx are the caller's fault and
    leave the circuit alone.
    """
    if isinstance(exc, APIConnectionError):
        return True
    if isinstance(exc, APIStatusError):
        return is_failure_status(exc.status_code)
    return False


def is_failure_status(status_code: int) -> bool:
    """Whether an HTTP status says the upstream is unwell: 408, 429 and 5xx."""
    return status_code in (408, 429) or status_code >= 500


def _check_settings(
    failure_threshold: int, window: float | None, open_duration: float, half_open_probes: int
) -> None:
    if failure_threshold < 1:
        raise ValueError("failure_threshold must be >= 1")
    if half_open_probes < 1:
        raise ValueError("half_open_probes must be >= 1")
    if open_duration < 0 or (window is not None and window <= 0):
        raise ValueError("open_duration must be >= 0 and window > 0")


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, APIStatusError) and exc.status_code in (429, 529):
        return _RETRY_AFTER_READER.retry_after(exc.headers)
    return None


class CircuitBreaker:
    """Refuse calls to an upstream while it is failing.

    >>> breaker = CircuitBreaker(failure_threshold=3, open_duration=10.0)
    >>> message = await breaker.call(lambda: client.messages.create(**args))

    ``window=None`` counts consecutive failures; a number counts failures in that many trailing
    seconds. ``clock`` is injectable for tests (monotonic seconds).
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        window: float | None = None,
        open_duration: float = 30.0,
        half_open_probes: int = 1,
        name: str = "default",
        on_state_change: StateListener | None = None,
        is_failure: Callable[[BaseException], bool] = is_upstream_failure,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_settings(failure_threshold, window, open_duration, half_open_probes)
        self.name = name
        self.failure_threshold = failure_threshold
        self.window = window
        self.open_duration = open_duration
        self.half_open_probes = half_open_probes
        self.is_failure = is_failure
        self._clock = clock
        self._listeners: list[StateListener] = [on_state_change] if on_state_change else []
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures: deque[float] = deque()
        self._open_until = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state.value})"

    def reconfigure(
        self,
        *,
        failure_threshold: int,
        window: float | None,
        open_duration: float,
        half_open_probes: int,
    ) -> None:
        """Change the thresholds in place: the state, counted failures and an open circuit's
        deadline carry over (the new ``open_duration`` applies from the next opening)."""
        _check_settings(failure_threshold, window, open_duration, half_open_probes)
        with self._lock:
            self.failure_threshold = failure_threshold
            self.window = window
            self.open_duration = open_duration
            self.half_open_probes = half_open_probes

    def add_listener(self, listener: StateListener) -> None:
        """Also call ``listener(breaker, old, new)`` on every state change."""
        self._listeners.append(listener)

    @property
    def state(self) -> CircuitState:
        """The current state (an open circuit whose time is up reads as half-open)."""
        with self._lock:
            change = self._advance()
            state = self._state
        self._announce(change)
        return state

    @property
    def retry_after(self) -> float | None:
        """Seconds until an open circuit lets a probe through; None when it is not open."""
        with self._lock:
            if self._state is not CircuitState.OPEN:
                return None
            return max(0.0, self._open_until - self._clock())

    def before_call(self) -> None:
        """Admit one call or raise ``CircuitOpenError``; an admitted call must be followed by
        ``record_success`` or ``record_failure`` (``call`` does both)."""
        with self._lock:
            change = self._advance()
            refusal: float | None = None
            if self._state is CircuitState.OPEN:
                refusal = max(0.0, self._open_until - self._clock())
            elif self._state is CircuitState.HALF_OPEN:
                if self._probes_in_flight + self._probe_successes >= self.half_open_probes:
                    refusal = 0.0
                else:
                    self._probes_in_flight += 1
        self._announce(change)
        if refusal is not None:
            raise CircuitOpenError(
                f"circuit {self.name!r} is open: the upstream has been failing; retry in {refusal:.2f} s",
                retry_after=refusal,
            )

    def record_success(self) -> None:
        """Count a call that worked."""
        with self._lock:
            change: tuple[CircuitState, CircuitState] | None = None
            if self._state is CircuitState.HALF_OPEN:
                self._probes_in_flight = max(0, self._probes_in_flight - 1)
                self._probe_successes += 1
                if self._probe_successes >= self.half_open_probes:
                    change = self._move(CircuitState.CLOSED)
            elif self._state is CircuitState.CLOSED and self.window is None:
                self._failures.clear()
        self._announce(change)

    def record_failure(self, retry_after: float | None = None) -> None:
        """Count a failed call; ``retry_after`` (seconds) keeps an opening circuit open that long."""
        with self._lock:
            now = self._clock()
            change: tuple[CircuitState, CircuitState] | None = None
            if self._state is CircuitState.HALF_OPEN:
                change = self._open(now, retry_after)
            elif self._state is CircuitState.CLOSED:
                self._failures.append(now)
                self._forget_old_failures(now)
                if len(self._failures) >= self.failure_threshold:
                    change = self._open(now, retry_after)
        self._announce(change)

    def record_error(self, exc: BaseException) -> None:
        """Record an exception: a failure when ``is_failure`` says so, else a success (the
        upstream answered; the request was wrong)."""
        if self.is_failure(exc):
            self.record_failure(_retry_after(exc))
        else:
            self.record_success()

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation()`` through the breaker."""
        self.before_call()
        try:
            result = await operation()
        except BaseException as exc:
            if isinstance(exc, Exception):
                self.record_error(exc)
            else:  # cancelled: neither a success nor a failure, but the probe slot is freed
                self.release()
            raise
        self.record_success()
        return result

    def release(self) -> None:
        """Give back an admitted call's slot without judging the upstream (the call was abandoned)."""
        with self._lock:
            if self._state is CircuitState.HALF_OPEN:
                self._probes_in_flight = max(0, self._probes_in_flight - 1)

    def reset(self) -> None:
        """Close the circuit and forget every failure."""
        with self._lock:
            change = self._move(CircuitState.CLOSED)
        self._announce(change)

    def snapshot(self) -> Mapping[str, object]:
        """State, failures counted and open time left, for logs and health pages."""
        state = self.state
        with self._lock:
            return {
                "name": self.name,
                "state": state.value,
                "failures": len(self._failures),
                "retry_after": max(0.0, self._open_until - self._clock())
                if state is CircuitState.OPEN
                else None,
            }

    # -- under the lock ---------------------------------------------------------------------------

    def _forget_old_failures(self, now: float) -> None:
        if self.window is not None:
            while self._failures and self._failures[0] <= now - self.window:
                self._failures.popleft()

    def _advance(self) -> tuple[CircuitState, CircuitState] | None:
        if self._state is CircuitState.OPEN and self._clock() >= self._open_until:
            return self._move(CircuitState.HALF_OPEN)
        return None

    def _open(self, now: float, retry_after: float | None) -> tuple[CircuitState, CircuitState] | None:
        change = self._move(CircuitState.OPEN)
        self._open_until = now + max(self.open_duration, retry_after or 0.0)
        return change

    def _move(self, new: CircuitState) -> tuple[CircuitState, CircuitState] | None:
        old = self._state
        self._state = new
        self._failures.clear()
        self._probes_in_flight = 0
        self._probe_successes = 0
        return None if old is new else (old, new)

    # -- outside the lock -------------------------------------------------------------------------

    def _announce(self, change: tuple[CircuitState, CircuitState] | None) -> None:
        if change is None:
            return
        old, new = change
        log.info("circuit %r: %s -> %s", self.name, old.value, new.value)
        for listener in self._listeners:
            try:
                listener(self, old, new)
            except Exception:
                log.exception("circuit %r: a state-change listener failed", self.name)
