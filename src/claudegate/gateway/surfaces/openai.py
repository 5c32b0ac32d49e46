"""The OpenAI surface: ``POST /v1/chat/completions``, translated to and from the canonical format."""

from __future__ import annotations

import logging
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
    classify,
    openai_body,
    parse_json_body,
    require,
)
from claudegate.gateway.surfaces._streams import send_stream
from claudegate.translate import (
    MessagesToChatStream,
    chat_request_to_messages,
    chunk_to_sse,
    done_sse,
    message_to_chat_completion,
    response_format_tool_name,
)

__all__ = ["chat_completions"]

log = logging.getLogger("claudegate.gateway")


def _error_chunk(exc: BaseException, request_id: str) -> bytes:
    """A ``data: {"error": ...}`` chunk for a failure after the stream began (a gateway bug is logged)."""
    if not isinstance(exc, ClaudegateError):
        log.error("stream of request %s failed inside the gateway", request_id, exc_info=exc)
    return b"data: " + openai_body(classify(exc)) + b"\n\n"


async def chat_completions(core: GatewayCore, exchange: Exchange) -> Outcome:
    """Answer one Chat Completions request."""
    principal = await core.principal(exchange.credential())
    raw = await exchange.body(core.config.gateway.max_request_bytes)
    chat = parse_json_body(raw)
    require(chat, "model", str, "a model name")
    require(chat, "messages", list, "a list of messages")
    body = chat_request_to_messages(chat, default_max_tokens=core.config.gateway.default_max_tokens)
    call = exchange.call = Call(
        principal,
        "openai",
        body,
        stream=body.get("stream") is True,
        size=len(raw),
        headers=exchange.forwarded_headers(),
        request_id=exchange.request_id,
        session=exchange.header(b"x-session-id"),
    )
    response_tool = response_format_tool_name(chat)
    if call.stream:
        options = chat.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        translator = MessagesToChatStream(
            model=None, include_usage=include_usage, response_tool=response_tool
        )
        work = _stream(core, exchange, call, translator)
    else:
        work = _json(core, exchange, call, response_tool)
    await exchange.run(
        work, heartbeat=core.config.gateway.heartbeat_interval, on_heartbeat=core.metrics.heartbeats.inc
    )
    return call.outcome


def _headers(outcome: Outcome) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in outcome.headers]


async def _json(core: GatewayCore, exchange: Exchange, call: Call, response_tool: str | None) -> None:
    response = await core.create(call)
    completion = message_to_chat_completion(response.message, response_tool=response_tool)
    await exchange.send_bytes(200, orjson.dumps(completion), extra=_headers(call.outcome))


async def _stream(
    core: GatewayCore, exchange: Exchange, call: Call, translator: MessagesToChatStream
) -> None:
    reply = await core.stream(call)
    try:
        extra = _headers(call.outcome)
        if reply.downgraded:
            extra.append((b"x-stream-downgraded", b"true"))
        await send_stream(core, exchange, _translated(reply, translator), extra)
    finally:
        await reply.aclose()


async def _translated(reply: StreamReply, translator: MessagesToChatStream) -> AsyncIterator[bytes]:
    failed = False
    feed = translator.feed
    try:
        async for batch in reply.batches():
            out: list[dict[str, Any]] = []
            stopped = False
            for event in batch:
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
    except Exception as exc:
        if not failed:
            yield _error_chunk(exc, reply.call.request_id)
