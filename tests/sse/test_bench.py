from __future__ import annotations

from bench.sse_decoder import build_stream, measure

from tests.sse._streams import FIXTURE_PATHS, decode_chunks


def test_the_benchmark_stream_is_the_recordings_repeated_and_valid_sse() -> None:
    stream = build_stream(target_bytes=50_000)
    assert len(stream) >= 50_000
    frames_per_round = sum(len(decode_chunks([path.read_bytes()])) for path in FIXTURE_PATHS)
    assert len(decode_chunks([stream])) % frames_per_round == 0


def test_measure_reports_every_rate() -> None:
    result = measure(seconds=0.01)
    assert set(result) == {
        "stream_mb",
        "lf_mb_per_s",
        "lf_events_per_s",
        "crlf_mb_per_s",
        "crlf_events_per_s",
        "accumulator_events_per_s",
    }
    # Speed itself is judged by running the benchmark, not here: only that every rate was measured.
    assert all(0 < value < float("inf") for value in result.values())
