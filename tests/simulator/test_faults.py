"""The ``x-sim-fault`` and ``x-sim-latency`` syntax, and ``times=N`` counting."""

from __future__ import annotations

import pytest

from claudegate.errors import ERROR_TYPE_STATUS
from claudegate.simulator import Fault, parse_faults
from claudegate.simulator._faults import MAX_SPECS, FaultBook, Latency, parse_latency


def test_each_kind_parses_with_its_parameters() -> None:
    rate, overloaded, reset, mid, error, stall = parse_faults(
        "429;retry-after=3;retry-after-ms=250;times=2, 529;should-retry=false, reset-before,"
        " reset-mid:4, error-mid:6;type=api_error, stall"
    )
    assert (rate.kind, rate.status, rate.error_type, rate.times) == ("status", 429, "rate_limit_error", 2)
    assert (rate.retry_after, rate.retry_after_ms) == (3.0, 250)
    assert (overloaded.status, overloaded.error_type, overloaded.should_retry) == (
        529,
        "overloaded_error",
        False,
    )
    assert reset.kind == "reset-before"
    assert (mid.kind, mid.after) == ("reset-mid", 4)
    assert (error.kind, error.after, error.error_type, error.status) == ("error-mid", 6, "api_error", 500)
    assert stall.kind == "stall" and stall.times is None
    assert parse_faults("error-mid:2")[0].error_type == "overloaded_error"
    assert parse_faults("503")[0].error_type == "api_error"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "empty"),
        ("teapot", "unknown fault"),
        ("200", "not an error status"),
        ("429;wait=3", "unknown fault parameter"),
        ("429;times", "not key=value"),
        ("529;should-retry=maybe", "should-retry"),
        ("reset-mid:x", "invalid literal"),
    ],
)
def test_malformed_specifications_name_the_problem(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_faults(spec)


def test_times_counts_per_specification_and_faults_take_turns() -> None:
    book = FaultBook()
    spec = "529;times=1, 500;times=2"
    picked = [book.select(spec) for _ in range(5)]
    assert [fault.status if isinstance(fault, Fault) else None for fault in picked] == [
        529,
        500,
        500,
        None,
        None,
    ]
    assert book.select("429;times=1") is not None, "another specification counts on its own"
    assert book.select("stall") is not None and book.select("stall") is not None
    book.reset()
    first = book.select(spec)
    assert first is not None and first.status == 529


def test_latency_overrides_the_defaults_in_seconds_or_milliseconds() -> None:
    default = Latency(first_token=0.5, per_event=0.1)
    assert parse_latency("ttft=250ms", default) == Latency(0.25, 0.1)
    assert parse_latency("event=2s; ttft=0", default) == Latency(0.0, 2.0)
    with pytest.raises(ValueError):
        parse_latency("speed=fast", default)
    with pytest.raises(ValueError):
        parse_latency("ttft=-1", default)


@pytest.mark.parametrize(("error_type", "status"), sorted(ERROR_TYPE_STATUS.items()))
def test_every_documented_error_pairs_its_status_and_type(error_type: str, status: int) -> None:
    (by_status,) = parse_faults(str(status))
    assert by_status.error_type == error_type
    (mid_stream,) = parse_faults(f"error-mid:2;type={error_type}")
    assert mid_stream.status == status


def test_the_book_forgets_the_oldest_count_instead_of_growing() -> None:
    book = FaultBook()
    first = "500;times=1"
    assert book.select(first) is not None and book.select(first) is None
    for n in range(MAX_SPECS):  # as many other counted specifications as the book holds
        assert book.select(f"500;times=1;retry-after={n}") is not None
    # The first count was the oldest: forgotten, so the specification starts over.
    assert book.select(first) is not None
    recent = f"500;times=1;retry-after={MAX_SPECS - 1}"
    assert book.select(recent) is None, "recent counts are kept"


def test_faults_without_a_count_take_no_place_in_the_book() -> None:
    book = FaultBook()
    assert book.select("500;times=1") is not None
    for n in range(MAX_SPECS + 10):
        assert book.select(f"529;retry-after={n}") is not None
    assert book.select("500;times=1") is None, "uncounted faults pushed no count out"
