"""Answers on the wire: JSON bodies, paced SSE streams, error envelopes with the live API's headers.

An error met once an event stream has started goes out as that stream's error frame
(``event: error`` for Anthropic clients, a ``data: {"error": ...}`` chunk for OpenAI clients) and
ends the body, as the live API reports a failure after the first byte.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from claudegate.errors import APIStatusError
from claudegate.simulator._batches import rfc3339
from claudegate.simulator._errors import error_envelope
from claudegate.simulator._faults import Fault, Latency
from claudegate.simulator._http import JSON_TYPE, SSE_TYPE, Exchange
from claudegate.simulator._json import dumps_lenient
from claudegate.simulator._reply import Reply
from claudegate.sse import encode_json_event
from claudegate.translate import anthropic_error_to_openai, chunk_to_sse

__all__ = [
    "CHAT_PATH",
    "Call",
    "error_frame",
    "error_headers",
    "json_delay",
    "send_error",
    "send_json",
    "send_stream",
    "sse_frame",
]

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
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

    @property
    def openai(self) -> bool:
        """The request came in OpenAI's dialect: its errors use OpenAI's envelope."""
        return self.exchange.path.rstrip("/") in (CHAT_PATH, EMBEDDINGS_PATH)


def sse_frame(event: dict[str, Any]) -> bytes:
    """One Anthropic stream event on the wire (``ping`` spaced exactly as the live API sends it)."""
    return _PING if event["type"] == "ping" else encode_json_event(event)


def error_frame(exchange: Exchange, error_type: str, message: str, *, openai: bool) -> bytes:
    """An error inside an event stream: Anthropic's ``event: error`` frame, or OpenAI's error chunk."""
    envelope = error_envelope(error_type, message, exchange.request_id)
    if openai:
        return chunk_to_sse(anthropic_error_to_openai(envelope))
    return encode_json_event(envelope, "error")


def json_delay(latency: Latency, reply: Reply) -> float:
    """How long a JSON answer waits: as long as the same reply takes to stream to its last event."""
    if latency.per_event <= 0:
        return latency.first_token
    return latency.first_token + latency.per_event * (reply.event_count() - 2)


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


def _full_message(error: APIStatusError) -> str:
    # The exception shortens long messages for logs; the envelope it was made from keeps them whole.
    inner = error.body.get("error") if isinstance(error.body, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else None
    return message if isinstance(message, str) else error.message


async def send_error(
    exchange: Exchange,
    entry: dict[str, Any],
    error: APIStatusError,
    fault: Fault | None = None,
    *,
    openai: bool = False,
) -> None:
    """Answer with an error envelope (OpenAI's shape when ``openai``).

    Once an event stream has started, the error becomes its error frame and the body ends; a JSON
    answer already under way cannot carry it (the server drops the connection instead).
    """
    entry["status"] = error.status_code
    error_type = error.type or "api_error"
    message = _full_message(error)
    if exchange.started:
        if exchange.sse and not exchange.finished and not exchange.gone:
            await exchange.write(error_frame(exchange, error_type, message, openai=openai), more=False)
        return
    envelope = error_envelope(error_type, message, exchange.request_id)
    sent = error.body.get("error") if isinstance(error.body, dict) else None
    if isinstance(sent, dict) and isinstance(sent.get("details"), dict):  # the error_code clients act on
        envelope["error"]["details"] = sent["details"]
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
        body = dumps_lenient(payload)
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


async def send_stream(call: Call, frames: list[bytes]) -> None:
    """Send SSE frames paced by the call's latency, applying a ``reset-mid``/``error-mid`` fault.

    The first frame goes at once, the second at the time to first token, each later one a
    per-event delay after the one before it, all on one schedule fixed when the first frame
    went (time spent writing does not add up); a client that leaves stops the stream.
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
    tail = b""
    if fault is not None and fault.kind == "error-mid":
        tail = error_frame(exchange, fault.error_type, fault.message, openai=call.openai)
    resetting = fault is not None and fault.kind == "reset-mid"
    if latency.first_token <= 0 and latency.per_event <= 0:
        await exchange.write(b"".join(frames[:cut]) + tail, more=resetting)
    else:
        exchange.watch()
        began = asyncio.get_running_loop().time()
        for position, frame in enumerate(frames[:cut]):
            if position > 0:
                deadline = began + latency.first_token + latency.per_event * (position - 1)
                if await exchange.sleep_until(deadline):
                    call.entry["disconnected"] = True
                    return
            await exchange.write(frame, more=True)
        await exchange.write(tail, more=resetting)
    if resetting:
        await exchange.reset()
