"""The Anthropic surface: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

Parse the body once, make it a ``Call``, ask the core, frame the answer: Anthropic JSON, or SSE.
Anthropic → Anthropic traffic passes through as bytes (JSON bodies and SSE, whole frames at a
time); other upstreams' canonical events are encoded here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from typing import Any

import orjson

from claudegate.errors import ClaudegateError
from claudegate.gateway._http import Exchange, LastChunk
from claudegate.gateway.core import (
    Call,
    GatewayCore,
    Outcome,
    StreamReply,
    anthropic_body,
    classify,
    parse_json_body,
    require,
)
from claudegate.gateway.surfaces._streams import send_stream
from claudegate.sse import encode_event, encode_json_event

__all__ = ["count_tokens", "error_frame", "estimate_tokens", "messages"]

ESTIMATE_HEADER = (b"x-token-count-estimate", b"true")

log = logging.getLogger("claudegate.gateway")


def error_frame(exc: BaseException, request_id: str) -> bytes:
    """An ``event: error`` frame for a failure after the stream began (a gateway bug is logged)."""
    if not isinstance(exc, ClaudegateError):
        log.error("stream of request %s failed inside the gateway", request_id, exc_info=exc)
    return encode_event(anthropic_body(classify(exc), request_id), "error")


def _check(body: dict[str, Any]) -> None:
    require(body, "model", str, "a model name")
    require(body, "max_tokens", int, "an integer")
    require(body, "messages", list, "a list of messages")


async def messages(core: GatewayCore, exchange: Exchange) -> Outcome:
    """Answer one Messages request."""
    principal = await core.principal(exchange.credential())
    raw = await exchange.body(core.config.gateway.max_request_bytes)
    body = parse_json_body(raw)
    _check(body)
    call = exchange.call = Call(
        principal,
        "anthropic",
        body,
        stream=body.get("stream") is True,
        raw=raw,
        size=len(raw),
        headers=exchange.forwarded_headers(),
        query=exchange.query,
        request_id=exchange.request_id,
        session=exchange.header(b"x-session-id"),
    )
    work = _stream(core, exchange, call) if call.stream else _json(core, exchange, call)
    await exchange.run(
        work, heartbeat=core.config.gateway.heartbeat_interval, on_heartbeat=core.metrics.heartbeats.inc
    )
    return call.outcome


def _headers(outcome: Outcome) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in outcome.headers]


async def _json(core: GatewayCore, exchange: Exchange, call: Call) -> None:
    response = await core.create(call)
    await exchange.send_bytes(response.status_code, response.body(), extra=_headers(call.outcome))


async def _stream(core: GatewayCore, exchange: Exchange, call: Call) -> None:
    reply = await core.stream(call)
    try:
        extra = _headers(call.outcome)
        if reply.downgraded:
            extra.append((b"x-stream-downgraded", b"true"))
        chunks = _passthrough(reply) if reply.native else _encoded(reply)
        await send_stream(core, exchange, chunks, extra)
    finally:
        await reply.aclose()


def _frames_end(data: bytes) -> int:
    """Where the last complete SSE frame of ``data`` ends (0: none yet); any of the three line ends."""
    end = 0
    for separator in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        found = data.rfind(separator)
        if found >= 0:
            end = max(end, found + len(separator))
    return end


async def _passthrough(reply: StreamReply) -> AsyncIterator[bytes]:
    """The upstream's bytes, forwarded whole frames at a time."""
    pending = b""
    try:
        async for chunk in reply.raw_chunks():
            pending += chunk
            cut = _frames_end(pending)
            if cut:
                ready, pending = pending[:cut], pending[cut:]
                yield LastChunk(ready) if reply.finished and not pending else ready
        if pending:
            yield pending
    except Exception as exc:  # the stream failed after it began: end with an error frame
        yield error_frame(exc, reply.call.request_id)


async def _encoded(reply: StreamReply) -> AsyncIterator[bytes]:
    try:
        async for batch in reply.batches():
            data = b"".join([encode_json_event(event) for event in batch])
            yield LastChunk(data) if reply.finished else data
    except Exception as exc:
        yield error_frame(exc, reply.call.request_id)


_MEDIA_TOKENS = 1600  # the most an image costs once the API has resized it (~1.15 megapixels)


def _media_blocks(value: Any) -> int:
    if isinstance(value, list):
        return sum(_media_blocks(item) for item in value)
    if isinstance(value, dict):
        if value.get("type") in ("image", "document"):
            return 1
        return sum(_media_blocks(item) for item in value.values())
    return 0


def estimate_tokens(body: dict[str, Any]) -> int:
    """An upward-biased input-token estimate: one token per three bytes of the request's JSON, plus
    a resized image's worth for each image or document block (their bytes say little)."""
    counted = {key: body[key] for key in ("system", "messages", "tools", "tool_choice") if key in body}
    media = _media_blocks(counted.get("messages")) + _media_blocks(counted.get("system"))
    return max(1, math.ceil(len(orjson.dumps(counted)) / 3) + media * _MEDIA_TOKENS)


async def count_tokens(core: GatewayCore, exchange: Exchange) -> Outcome:
    """``count_tokens`` from the upstream when it has one, else a marked estimate."""
    principal = await core.principal(exchange.credential())
    raw = await exchange.body(core.config.gateway.max_request_bytes)
    body = parse_json_body(raw)
    require(body, "model", str, "a model name")
    require(body, "messages", list, "a list of messages")
    call = exchange.call = Call(
        principal,
        "anthropic",
        body,
        raw=raw,
        size=len(raw),
        headers=exchange.forwarded_headers(),
        query=exchange.query,
        request_id=exchange.request_id,
        metered=False,
    )

    async def work() -> None:
        counted = await core.count_tokens(call)
        if counted is None:
            answer = orjson.dumps({"input_tokens": estimate_tokens(body)})
            await exchange.send_bytes(200, answer, extra=[ESTIMATE_HEADER])
        else:
            await exchange.send_bytes(200, orjson.dumps({"input_tokens": counted}))

    await exchange.run(work(), heartbeat=core.config.gateway.heartbeat_interval)
    return call.outcome
