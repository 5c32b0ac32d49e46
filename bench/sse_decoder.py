"""SSE decoder and accumulator throughput on a large Anthropic-shaped stream built from the recordings.

    .venv/bin/python bench/sse_decoder.py            # about 3 s
    .venv/bin/python bench/sse_decoder.py 0.5        # seconds per measurement

The stream is every recording in ``tests/fixtures/anthropic`` repeated to ~4 MB (padded JSON,
long text deltas, tool JSON fragments, thinking), fed in 16 KiB chunks, as a socket delivers it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claudegate.sse import MessageAccumulator, SSEDecoder

__all__ = ["build_stream", "measure"]

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "anthropic"
CHUNK_SIZE = 16 * 1024


def build_stream(target_bytes: int = 4_000_000) -> bytes:
    """The recorded Anthropic streams, each closed by a blank line, repeated to ``target_bytes``."""
    recordings = [path.read_bytes().rstrip(b"\n") + b"\n\n" for path in sorted(FIXTURES.iterdir())]
    one_round = b"".join(recordings)
    return one_round * max(1, -(-target_bytes // len(one_round)))


def _chunks(stream: bytes) -> list[bytes]:
    return [stream[start : start + CHUNK_SIZE] for start in range(0, len(stream), CHUNK_SIZE)]


def _repeat(work: Callable[[], int], seconds: float) -> tuple[int, int, float]:
    """Run ``work`` until ``seconds`` have passed (at least once): (runs, items, elapsed)."""
    runs = items = 0
    began = time.perf_counter()
    while True:
        items += work()
        runs += 1
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            return runs, items, elapsed


def _decoder_rates(stream: bytes, seconds: float) -> tuple[float, float]:
    chunks = _chunks(stream)

    def decode_all() -> int:
        decoder = SSEDecoder()
        count = 0
        for chunk in chunks:
            count += len(decoder.feed(chunk))
        return count + len(decoder.flush())

    runs, events, elapsed = _repeat(decode_all, seconds)
    return runs * len(stream) / elapsed / 1e6, events / elapsed


def _accumulator_rate(seconds: float) -> float:
    messages: list[list[dict[str, Any]]] = []
    for path in sorted(FIXTURES.iterdir()):
        decoder = SSEDecoder()
        messages.append([event.json() for event in decoder.feed(path.read_bytes()) + decoder.flush()])

    def accumulate_all() -> int:
        for events in messages:
            accumulator = MessageAccumulator()
            for event in events:
                accumulator.feed(event)
        return sum(len(events) for events in messages)

    _, events, elapsed = _repeat(accumulate_all, seconds)
    return events / elapsed


def measure(seconds: float = 1.0) -> dict[str, float]:
    """Decoder MB/s and events/s on LF and CR LF framing, and accumulator events/s (pre-decoded)."""
    stream = build_stream()
    lf_mb, lf_events = _decoder_rates(stream, seconds)
    crlf_mb, crlf_events = _decoder_rates(stream.replace(b"\n", b"\r\n"), seconds)
    return {
        "stream_mb": len(stream) / 1e6,
        "lf_mb_per_s": lf_mb,
        "lf_events_per_s": lf_events,
        "crlf_mb_per_s": crlf_mb,
        "crlf_events_per_s": crlf_events,
        "accumulator_events_per_s": _accumulator_rate(seconds),
    }


def main(argv: list[str]) -> None:
    seconds = float(argv[1]) if len(argv) > 1 else 1.0
    result = measure(seconds)
    rows = [
        ("decoder, LF (fast path)", result["lf_mb_per_s"], result["lf_events_per_s"]),
        ("decoder, CR LF", result["crlf_mb_per_s"], result["crlf_events_per_s"]),
        ("accumulator (decoded events)", None, result["accumulator_events_per_s"]),
    ]
    print(f"stream: {result['stream_mb']:.1f} MB in {CHUNK_SIZE // 1024} KiB chunks")
    for label, megabytes, events in rows:
        rate = f"{megabytes:8.1f} MB/s" if megabytes is not None else " " * 13
        print(f"{label:<30} {rate}  {events:12,.0f} events/s")


if __name__ == "__main__":
    main(sys.argv)
