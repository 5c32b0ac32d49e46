"""Answers on the wire: JSON bodies, paced SSE streams, error envelopes with the live API's headers."""

from __future__ import annotations

import math
import time
from typing import Any

import orjson

from claudegate.errors import APIStatusError
from claudegate.simulator._batches import rfc3339
from claudegate.simulator._errors import error_envelope
from claudegate.simulator._faults import Fault, Latency
from claudegate.simulator._http import JSON_TYPE, SSE_TYPE, Exchange
from claudegate.sse import encode_json_event
from claudegate.translate import anthropic_error_to_openai

__all__ = ["Call", "error_headers", "send_error", "send_json", "send_stream", "sse_frame"]

_PING = b'event: ping\ndata: {"type": "ping"}\n\n'
_RATE_LIMITS = {"requests": 4000, "tokens": 2_000_000, "input-tokens": 1_600_000, "output-tokens": 400_000}


class Call:
    """One API request on its way through the app: its exchange, log entry, fault, pacing and body."""

    def __init__(self, exchange: Exchange, entry: dict[str, Any], latency: Latency) -> None:
        self.exchange = exchange
        self.entry = entry
        self.latency = latency
        self.fault: Fault | None = None
        self.payload: Any = None

    @property
    def streaming(self) -> bool:
        return isinstance(self.payload, dict) and self.payload.get("stream") is True


def sse_frame(event: dict[str, Any]) -> bytes:
    """One Anthropic stream event on the wire (``ping`` spaced exactly as the live API sends it)."""
    return _PING if event["type"] == "ping" else encode_json_event(event)


def _retry_after(fault: Fault | None) -> tuple[float, list[tuple[bytes, bytes]]]:
    if fault is None:
        return 1.0, []
    if fault.retry_after_ms is not None:
        seconds = (
            fault.retry_after if fault.retry_after is not None else math.ceil(fault.retry_after_ms / 1000)
        )
        return seconds, [(b"retry-after-ms", str(fault.retry_after_ms).encode())]
    return (fault.retry_after if fault.retry_after is not None else 1.0), []


def error_headers(status: int, fault: Fault | None) -> list[tuple[bytes, bytes]]:
    """``x-should-retry``, and ``retry-after`` (429/529) and the rate-limit headers (429)."""
    retry = status in (408, 409, 429) or status >= 500
    if fault is not None and fault.should_retry is not None:
        retry = fault.should_retry
    headers = [(b"x-should-retry", b"true" if retry else b"false")]
    if status not in (429, 529):
        return headers
    wait, extra = _retry_after(fault)
    headers += extra
    headers.append((b"retry-after", f"{wait:g}".encode()))
    if status == 429:
        reset = (rfc3339(time.time() + wait) or "").encode()
        for name, limit in _RATE_LIMITS.items():
            prefix = b"anthropic-ratelimit-" + name.encode()
            remaining = b"0" if name == "requests" else str(limit // 10).encode()
            headers += [
                (prefix + b"-limit", str(limit).encode()),
                (prefix + b"-remaining", remaining),
                (prefix + b"-reset", reset),
            ]
    return headers


async def send_error(
    exchange: Exchange,
    entry: dict[str, Any],
    error: APIStatusError,
    fault: Fault | None = None,
    *,
    openai: bool = False,
) -> None:
    """Answer with an error envelope (OpenAI's shape when ``openai``), unless an answer already started."""
    entry["status"] = error.status_code
    if exchange.started:
        return
    envelope = error_envelope(error.type or "api_error", error.message, exchange.request_id)
    body: Any = envelope
    if openai:
        body = anthropic_error_to_openai(envelope, error.status_code)
    await exchange.respond_json(error.status_code, body, error_headers(error.status_code, fault))


async def send_json(call: Call, payload: Any, *, delay: float = 0.0) -> None:
    """Send a JSON answer after ``delay`` seconds; a ``reset-mid`` fault cuts it halfway."""
    exchange = call.exchange
    if delay > 0 and await exchange.wait_gone(delay):
        call.entry["disconnected"] = True
        return
    call.entry["status"] = 200
    if call.fault is not None and call.fault.kind == "reset-mid":
        body = orjson.dumps(payload)
        await exchange.start(
            200,
            [
                (b"content-type", JSON_TYPE),
                (b"content-length", str(len(body)).encode()),
                (b"request-id", exchange.request_id.encode()),
            ],
        )
        await exchange.write(body[: len(body) // 2], more=True)
        await exchange.reset()
        return
    await exchange.respond_json(200, payload)


async def send_stream(call: Call, frames: list[bytes], error_frame: bytes) -> None:
    """Send SSE frames paced by the call's latency, applying a ``reset-mid``/``error-mid`` fault.

    The first frame goes at once, the second after the time to first token, each later one after
    the per-event delay; a client that leaves stops the stream.
    """
    exchange, fault, latency = call.exchange, call.fault, call.latency
    cut = len(frames)
    if fault is not None and fault.kind in ("reset-mid", "error-mid"):
        cut = min(fault.after, len(frames) - 1)
    call.entry["status"] = 200
    await exchange.start(
        200,
        [
            (b"content-type", SSE_TYPE),
            (b"cache-control", b"no-cache"),
            (b"request-id", exchange.request_id.encode()),
        ],
    )
    tail = error_frame if fault is not None and fault.kind == "error-mid" else b""
    resetting = fault is not None and fault.kind == "reset-mid"
    if latency.first_token <= 0 and latency.per_event <= 0:
        await exchange.write(b"".join(frames[:cut]) + tail, more=resetting)
    else:
        exchange.watch()
        for position, frame in enumerate(frames[:cut]):
            wait = 0.0 if position == 0 else latency.first_token if position == 1 else latency.per_event
            if wait > 0 and await exchange.wait_gone(wait):
                call.entry["disconnected"] = True
                return
            await exchange.write(frame, more=True)
        await exchange.write(tail, more=resetting)
    if resetting:
        await exchange.reset()
