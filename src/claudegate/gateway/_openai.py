"""The OpenAI surface: ``POST /v1/chat/completions``, translated to and from the canonical format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from claudegate.errors import ClaudegateError
from claudegate.gateway._anthropic import _create, _send, _stream
from claudegate.gateway._calls import call_route, forwarded_headers
from claudegate.gateway._errors import classify, openai_body
from claudegate.gateway._http import Exchange
from claudegate.gateway._state import GatewayState, parse_json_body, require
from claudegate.gateway._streaming import LastChunk
from claudegate.gateway._toolstream import buffer_tool_arguments
from claudegate.gateway._usage import USAGE_KEY, UsageTap
from claudegate.providers import ProviderStream
from claudegate.sse import message_to_events
from claudegate.translate import (
    MessagesToChatStream,
    chat_request_to_messages,
    chunk_to_sse,
    done_sse,
    message_to_chat_completion,
    response_format_tool_name,
)

__all__ = ["chat_completions"]


def _error_chunk(exc: BaseException) -> bytes:
    return b"data: " + openai_body(classify(exc)) + b"\n\n"


async def chat_completions(state: GatewayState, exchange: Exchange) -> tuple[str, str]:
    """Answer one Chat Completions request; returns (model, deployment) for the metrics."""
    raw = await exchange.body(state.config.gateway.max_request_bytes)
    chat = parse_json_body(raw)
    model: str = require(chat, "model", str, "a model name")
    require(chat, "messages", list, "a list of messages")
    body = chat_request_to_messages(chat, default_max_tokens=state.config.gateway.default_max_tokens)
    route = state.route(model)
    headers = forwarded_headers(exchange)
    response_tool = response_format_tool_name(chat)
    tap = UsageTap()
    exchange.scope[USAGE_KEY] = tap.usage  # read by the policy pipeline
    if not body.get("stream"):
        response, deployment = await call_route(exchange, route, body, None, headers, _create)
        tap.observe_message(response.message)
        state.metrics.record_usage(model, tap.usage)
        completion = message_to_chat_completion(response.message, response_tool=response_tool)
        await exchange.send_bytes(200, orjson.dumps(completion))
        return model, deployment.name
    options = chat.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    translator = MessagesToChatStream(model=None, include_usage=include_usage, response_tool=response_tool)
    extra: list[tuple[bytes, bytes]] = []
    batches: AsyncIterator[list[dict[str, Any]]]
    upstream: ProviderStream | None = None
    if route.stream_downgrade and body.get("tools"):
        response, deployment = await call_route(
            exchange, route, {**body, "stream": False}, None, headers, _create
        )
        batches = _replay(message_to_events(response.message))
        extra.append((b"x-stream-downgraded", b"true"))
    else:
        upstream, deployment = await call_route(exchange, route, body, None, headers, _stream)
        batches = upstream.batches()
    if route.tool_stream == "buffer":
        batches = buffer_tool_arguments(batches, state.metrics.repaired)
    await _send(state, exchange, _translated(batches, upstream, translator, tap), extra)
    state.metrics.record_usage(model, tap.usage)
    return model, deployment.name


async def _replay(events: list[dict[str, Any]]) -> AsyncIterator[list[dict[str, Any]]]:
    yield events


async def _translated(
    batches: AsyncIterator[list[dict[str, Any]]],
    upstream: ProviderStream | None,
    translator: MessagesToChatStream,
    tap: UsageTap,
) -> AsyncIterator[bytes]:
    failed = False
    observe, feed = tap.observe, translator.feed
    try:
        async for batch in batches:
            out: list[dict[str, Any]] = []
            stopped = False
            for event in batch:
                observe(event)
                out += feed(event)
                kind = event.get("type")
                if kind == "error":
                    failed = True
                    break
                stopped = kind == "message_stop"
            if stopped:  # the end: the closing chunks and [DONE] go out with the last events
                out += translator.finish()
                yield LastChunk(b"".join([chunk_to_sse(chunk) for chunk in out]) + done_sse())
                return
            if out:
                yield b"".join([chunk_to_sse(chunk) for chunk in out])
            if failed:
                return
        tail = translator.finish()
        if tail:
            yield b"".join(chunk_to_sse(chunk) for chunk in tail)
        yield done_sse()
    except ClaudegateError as exc:
        if not failed:
            yield _error_chunk(exc)
    finally:
        if upstream is not None:
            await upstream.aclose()
