"""Dashboard sessions on an injected clock: idle and absolute expiry, the oldest evicted past the
cap, only a digest of the id kept, and the CSRF token compared whole."""

from __future__ import annotations

from claudegate.gateway.surfaces.dashboard import SessionSettings
from claudegate.gateway.surfaces.dashboard._sessions import LoginThrottle, Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_when_idle_or_at_its_lifetime_however_busy() -> None:
    clock = Clock()
    sessions = Sessions(SessionSettings(idle=60, lifetime=300), clock)
    value, session = sessions.open()
    assert value not in repr(sessions._sessions) and session.digest != value  # only its digest is kept
    for _ in range(5):  # a request every 50 s keeps it alive...
        clock.now += 50
        assert sessions.get(value) is session
    clock.now += 50  # ...until 300 s after login
    assert sessions.get(value) is None
    other, _ = sessions.open()
    clock.now += 60
    assert sessions.get(other) is None and len(sessions) == 0
    assert sessions.get(None) is None and sessions.get("made-up") is None


def test_the_oldest_sessions_make_room_and_logout_ends_one() -> None:
    clock = Clock()
    sessions = Sessions(SessionSettings(max_sessions=2), clock)
    first, _ = sessions.open()
    clock.now += 1
    second, _ = sessions.open()
    clock.now += 1
    third, third_session = sessions.open()
    assert sessions.get(first) is None and sessions.get(second) is not None and len(sessions) == 2
    assert third_session.accepts(third_session.csrf)
    assert not third_session.accepts(third_session.csrf[:-1]) and not third_session.accepts(None)
    sessions.close(third)
    assert sessions.get(third) is None


def test_failed_logins_slide_out_of_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(SessionSettings(failures=2, window=100), clock)
    throttle.failed("10.0.0.1")
    clock.now += 10
    throttle.failed("10.0.0.1")
    assert throttle.refused("10.0.0.1") == 90  # until the first failure is 100 s old
    assert throttle.refused("10.0.0.2") is None
    clock.now += 90
    assert throttle.refused("10.0.0.1") is None
