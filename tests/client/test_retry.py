from __future__ import annotations

import email.utils
import time

import pytest

from claudegate.client import RetryPolicy


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    assert RetryPolicy().should_retry_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert not RetryPolicy().should_retry_status(status)


def test_x_should_retry_header_overrides_status() -> None:
    policy = RetryPolicy()
    assert policy.should_retry_status(400, {"x-should-retry": "true"})
    assert not policy.should_retry_status(529, {"x-should-retry": "false"})


def test_backoff_doubles_up_to_the_cap_with_jitter_below() -> None:
    no_jitter = RetryPolicy(random=lambda: 0.0)
    assert [no_jitter.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    full_jitter = RetryPolicy(random=lambda: 1.0)
    assert [full_jitter.delay(n) for n in range(3)] == [0.375, 0.75, 1.5]


def test_retry_after_ms_wins_over_retry_after() -> None:
    policy = RetryPolicy(random=lambda: 0.0)
    assert policy.delay(0, {"retry-after-ms": "1500", "retry-after": "7"}) == 1.5
    assert policy.delay(0, {"retry-after": "7"}) == 7.0
    assert policy.delay(0, {"retry-after": "0.25"}) == 0.25


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    delay = RetryPolicy().delay(0, {"retry-after": when})
    assert 1.5 < delay <= 3.0


@pytest.mark.parametrize("value", ["0", "-1", "61", "3600", "soon"])
def test_unusable_retry_after_falls_back_to_backoff(value: str) -> None:
    policy = RetryPolicy(random=lambda: 0.0)
    assert policy.delay(1, {"retry-after": value}) == 1.0


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2.0)
    assert RetryPolicy.none().max_retries == 0
