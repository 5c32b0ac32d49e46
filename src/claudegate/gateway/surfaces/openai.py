"""The OpenAI surface: ``POST /v1/chat/completions``.

To an OpenAI-compatible upstream the request and answer pass through as bytes (usage tapped by the
core); to any other upstream they are translated to and from the canonical format.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from claudegate.errors import ClaudegateError
from claudegate.gateway._http import Exchange, LastChunk
from claudegate.gateway.core import (
    Call,
    ChatRequest,
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
    TranslationError,
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
    default_max_tokens = core.config.gateway.default_max_tokens
    untranslatable: TranslationError | None = None
    try:
        body = chat_request_to_messages(chat, default_max_tokens=default_max_tokens)
    except TranslationError as exc:  # only an OpenAI-compatible deployment can serve it
        body, untranslatable = _stand_in(chat, default_max_tokens), exc
    call = exchange.call = Call(
        principal,
        "openai",
        body,
        stream=chat.get("stream") is True,
        size=len(raw),
        headers=exchange.forwarded_headers(),
        request_id=exchange.request_id,
        session=exchange.header(b"x-session-id"),
        chat=ChatRequest.of(chat, raw, untranslatable),
    )
    work = _stream(core, exchange, call, chat) if call.stream else _json(core, exchange, call, chat)
    await exchange.run(
        work, heartbeat=core.config.gateway.heartbeat_interval, on_heartbeat=core.metrics.heartbeats.inc
    )
    return call.outcome


def _headers(outcome: Outcome) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in outcome.headers]


def _stand_in(chat: dict[str, Any], default_max_tokens: int) -> dict[str, Any]:
    """What routing, limits and stickiness read of a request that has no canonical translation."""
    caps = [chat.get(key) for key in ("max_completion_tokens", "max_tokens")]
    cap = next((value for value in caps if isinstance(value, int) and value > 0), default_max_tokens)
    body: dict[str, Any] = {"model": chat["model"], "max_tokens": cap, "messages": []}
    user = chat.get("user")
    if isinstance(user, str) and user:
        body["metadata"] = {"user_id": user}
    return body


async def _json(core: GatewayCore, exchange: Exchange, call: Call, chat: dict[str, Any]) -> None:
    response = await core.create(call)
    if response.dialect == "openai":  # the upstream's own completion, untouched
        assert response.raw is not None
        await exchange.send_bytes(200, response.raw, extra=_headers(call.outcome))
        return
    response_tool = response_format_tool_name(chat)
    completion = message_to_chat_completion(response.message, response_tool=response_tool)
    await exchange.send_bytes(200, orjson.dumps(completion), extra=_headers(call.outcome))


async def _stream(core: GatewayCore, exchange: Exchange, call: Call, chat: dict[str, Any]) -> None:
    reply = await core.stream(call)
    try:
        extra = _headers(call.outcome)
        if reply.downgraded:
            extra.append((b"x-stream-downgraded", b"true"))
        if reply.dialect == "openai":
            chunks = _passthrough(reply)
        else:
            options = chat.get("stream_options")
            translator = MessagesToChatStream(
                model=None,
                include_usage=isinstance(options, dict) and options.get("include_usage") is True,
                response_tool=response_format_tool_name(chat),
            )
            chunks = _translated(reply, translator)
        await send_stream(core, exchange, chunks, extra)
    finally:
        await reply.aclose()


async def _passthrough(reply: StreamReply) -> AsyncIterator[bytes]:
    """The upstream's own chunks, whole frames at a time."""
    try:
        async for frames in reply.chat_chunks():
            yield LastChunk(frames) if reply.finished else frames
    except Exception as exc:  # the stream failed after it began: end with an error chunk
        yield _error_chunk(exc, reply.call.request_id)


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
