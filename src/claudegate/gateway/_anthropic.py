"""The Anthropic surface: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

Anthropic → Anthropic traffic passes through as bytes (JSON bodies and SSE), with usage tapped
from ``message_start`` / ``message_delta``. Other upstreams answer canonical events, encoded here.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import orjson

from claudegate.errors import ClaudegateError
from claudegate.gateway._calls import call_route, forwarded_headers
from claudegate.gateway._errors import anthropic_body, classify
from claudegate.gateway._http import Exchange
from claudegate.gateway._router import Deployment, Route
from claudegate.gateway._state import GatewayState, parse_json_body, require
from claudegate.gateway._streaming import LastChunk, send_stream
from claudegate.gateway._toolstream import buffer_tool_arguments
from claudegate.gateway._usage import USAGE_KEY, UsageTap
from claudegate.providers import ProviderRequest, ProviderResponse, ProviderStream
from claudegate.sse import SSEDecoder, encode_event, encode_json_event, message_to_events

__all__ = ["count_tokens", "error_frame", "messages"]

ESTIMATE_HEADER = (b"x-token-count-estimate", b"true")


def error_frame(exc: BaseException, request_id: str) -> bytes:
    """An ``event: error`` frame for a failure after the stream began."""
    return encode_event(anthropic_body(classify(exc), request_id), "error")


async def _create(deployment: Deployment, request: ProviderRequest) -> ProviderResponse:
    return await deployment.provider.create(request)


async def _stream(deployment: Deployment, request: ProviderRequest) -> ProviderStream:
    return await deployment.provider.stream(request)


def _check(body: dict[str, Any]) -> str:
    model: str = require(body, "model", str, "a model name")
    require(body, "max_tokens", int, "an integer")
    require(body, "messages", list, "a list of messages")
    return model


async def messages(state: GatewayState, exchange: Exchange) -> tuple[str, str]:
    """Answer one Messages request; returns (model, deployment) for the metrics."""
    raw = await exchange.body(state.config.gateway.max_request_bytes)
    body = parse_json_body(raw)
    model = _check(body)
    route = state.route(model)
    headers = forwarded_headers(exchange)
    if body.get("stream") is not True:
        response, deployment = await call_route(exchange, route, body, raw, headers, _create)
        tap = UsageTap()
        exchange.scope[USAGE_KEY] = tap.usage  # read by the policy pipeline
        tap.observe_message(response.message)
        state.metrics.record_usage(model, tap.usage)
        await exchange.send_bytes(response.status_code, response.body())
        return model, deployment.name
    if route.stream_downgrade and body.get("tools"):
        return model, await _downgraded(state, exchange, route, body, headers)
    upstream, deployment = await call_route(exchange, route, body, raw, headers, _stream)
    tap = UsageTap()
    exchange.scope[USAGE_KEY] = tap.usage  # read by the policy pipeline
    if upstream.native and route.tool_stream == "passthrough":
        chunks = _passthrough(upstream, tap, exchange.request_id)
    else:
        batches: AsyncIterator[list[dict[str, Any]]] = upstream.batches()
        if route.tool_stream == "buffer":
            batches = buffer_tool_arguments(batches, state.metrics.repaired)
        chunks = _encoded(batches, upstream, tap, exchange.request_id)
    await _send(state, exchange, chunks, [])
    state.metrics.record_usage(model, tap.usage)
    return model, deployment.name


async def _send(
    state: GatewayState, exchange: Exchange, chunks: AsyncIterator[bytes], extra: list[tuple[bytes, bytes]]
) -> None:
    metrics = state.metrics
    await exchange.start_stream(extra)
    metrics.active_streams += 1
    try:
        first_byte = await send_stream(
            exchange, chunks, heartbeat=state.config.gateway.heartbeat_interval, metrics=metrics
        )
    finally:
        metrics.active_streams -= 1
    if first_byte is not None:
        metrics.time_to_first_byte.observe((exchange.path,), first_byte)


async def _downgraded(
    state: GatewayState, exchange: Exchange, route: Route, body: dict[str, Any], headers: dict[str, str]
) -> str:
    """A streamed request with tools, answered from one non-streamed upstream call."""
    response, deployment = await call_route(
        exchange, route, {**body, "stream": False}, None, headers, _create
    )
    tap = UsageTap()
    exchange.scope[USAGE_KEY] = tap.usage  # read by the policy pipeline

    async def replay() -> AsyncIterator[bytes]:
        events = message_to_events(response.message)
        for event in events:
            tap.observe(event)
        yield b"".join(encode_json_event(event) for event in events)

    await _send(state, exchange, replay(), [(b"x-stream-downgraded", b"true")])
    state.metrics.record_usage(str(body["model"]), tap.usage)
    return deployment.name


def _frames_end(data: bytes) -> int:
    """Where the last complete SSE frame of ``data`` ends (0: none yet); any of the three line ends."""
    end = 0
    for separator in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        found = data.rfind(separator)
        if found >= 0:
            end = max(end, found + len(separator))
    return end


async def _passthrough(upstream: ProviderStream, tap: UsageTap, request_id: str) -> AsyncIterator[bytes]:
    """The upstream's bytes, forwarded whole frames at a time, with usage tapped on the way."""
    decoder = SSEDecoder()
    pending = b""
    try:
        async for chunk in upstream.raw_chunks():
            stopped = False
            for sse in decoder.feed(chunk):
                if sse.event in ("message_start", "message_delta"):
                    tap.observe(orjson.loads(sse.data))
                elif sse.event == "message_stop":
                    stopped = True
            pending += chunk
            cut = _frames_end(pending)
            if cut:
                ready, pending = pending[:cut], pending[cut:]
                yield LastChunk(ready) if stopped and not pending else ready
        if pending:
            yield pending
    except ClaudegateError as exc:  # the upstream failed mid-stream: end with an error frame
        yield error_frame(exc, request_id)
    finally:
        await upstream.aclose()


async def _encoded(
    batches: AsyncIterator[list[dict[str, Any]]], upstream: ProviderStream, tap: UsageTap, request_id: str
) -> AsyncIterator[bytes]:
    observe = tap.observe
    try:
        async for batch in batches:
            for event in batch:
                observe(event)
            data = b"".join([encode_json_event(event) for event in batch])
            yield LastChunk(data) if batch[-1].get("type") == "message_stop" else data
    except ClaudegateError as exc:
        yield error_frame(exc, request_id)
    finally:
        await upstream.aclose()


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


async def count_tokens(state: GatewayState, exchange: Exchange) -> tuple[str, str]:
    """``count_tokens`` from the upstream when it has one, else a marked estimate."""
    raw = await exchange.body(state.config.gateway.max_request_bytes)
    body = parse_json_body(raw)
    model: str = require(body, "model", str, "a model name")
    require(body, "messages", list, "a list of messages")
    route = state.route(model)

    async def count(deployment: Deployment, request: ProviderRequest) -> ProviderResponse:
        counted = await deployment.provider.count_tokens(request)
        if counted is None:
            return ProviderResponse(
                message={"input_tokens": estimate_tokens(body)}, headers={"estimate": "1"}
            )
        return ProviderResponse(message={"input_tokens": counted})

    result, deployment = await call_route(exchange, route, body, raw, forwarded_headers(exchange), count)
    extra = [ESTIMATE_HEADER] if "estimate" in result.headers else None
    await exchange.send_bytes(200, orjson.dumps(result.message), extra=extra)
    return model, deployment.name
