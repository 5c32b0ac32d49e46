"""Helpers shared by the SSE tests: the recorded Anthropic streams and ways to cut them up."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from claudegate.sse import ServerSentEvent, SSEDecoder

ANTHROPIC_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic"
FIXTURE_PATHS = sorted(path for path in ANTHROPIC_FIXTURES.iterdir() if path.suffix in (".txt", ".sse"))
FIXTURE_NAMES = [path.name for path in FIXTURE_PATHS]


def fixture_bytes(name: str) -> bytes:
    return (ANTHROPIC_FIXTURES / name).read_bytes()


def split_at(raw: bytes, points: Iterable[int]) -> list[bytes]:
    """Cut ``raw`` at the given offsets (any order, duplicates and out-of-range ones ignored)."""
    cuts = sorted({point for point in points if 0 < point < len(raw)})
    bounds = [0, *cuts, len(raw)]
    return [raw[start:end] for start, end in itertools.pairwise(bounds)]


def decode_chunks(chunks: Sequence[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.flush()
    return events


def naive_data_payloads(raw: bytes) -> list[Any]:
    """An independent reading of an LF-only, one-data-line-per-frame recording: every data line's JSON."""
    return [
        json.loads(line[len("data:") :])
        for line in raw.decode("utf-8").split("\n")
        if line.startswith("data:")
    ]
