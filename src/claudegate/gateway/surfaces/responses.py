"""The OpenAI Responses surface: ``POST /v1/responses`` (JSON or typed SSE events), and
``GET`` / ``DELETE /v1/responses/{id}`` on the answers the gateway stored.

A request is translated to the canonical format, continued from its ``previous_response_id``
(the caller's own stored conversation), and sent through the core like any other call: auth,
limits, budget, routing, failover, ledger and metrics are the core's. With ``store`` (true unless
the request says false, as with OpenAI) the answer and its conversation are stored before the
final event or body goes out, so the id it carries can be continued at once, on any replica
sharing the database.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import orjson

from claudegate.errors import ClaudegateError
from claudegate.gateway._http import Exchange, LastChunk
from claudegate.gateway.core import (
    Call,
    GatewayCore,
    GatewayError,
    Outcome,
    StreamReply,
    classify,
    parse_json_body,
    require,
)
from claudegate.gateway.surfaces._streams import send_stream
from claudegate.translate.responses import (
    MessagesToResponsesStream,
    ResponseShell,
    conversation_with,
    message_to_response,
    response_event_to_sse,
    response_shell,
    responses_request_to_messages,
)

__all__ = ["create_response", "delete_response", "retrieve_response"]

log = logging.getLogger("claudegate.gateway")

PREFIXES = ("/v1/responses/", "/responses/")


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise GatewayError(400, "invalid_request_error", f"{name}: must be a boolean", name)
    return value


async def create_response(core: GatewayCore, exchange: Exchange) -> Outcome:
    """Answer one ``POST /v1/responses``."""
    principal = await core.principal(exchange.credential())
    raw = await exchange.body(core.config.gateway.max_request_bytes)
    body = parse_json_body(raw)
    require(body, "model", str, "a model name")
    store = _flag(body, "store", True)
    stream = _flag(body, "stream", False)
    previous = body.get("previous_response_id")
    history: list[dict[str, Any]] = []
    if previous is not None:
        if not isinstance(previous, str) or not previous:
            raise GatewayError(
                400, "invalid_request_error", "previous_response_id: must be a string", "previous_response_id"
            )
        stored = await core.responses.load(previous, principal.owner, "previous_response_id")
        history = stored.conversation
    request = responses_request_to_messages(
        body, history=history, default_max_tokens=core.config.gateway.default_max_tokens
    )
    shell = response_shell(
        body, response_id="resp_" + os.urandom(16).hex(), created_at=int(core.clock()), store=store
    )
    call = exchange.call = Call(
        principal,
        "openai",
        request,
        stream=stream,
        size=len(orjson.dumps(request)) if history else len(raw),
        headers=exchange.forwarded_headers(),
        request_id=exchange.request_id,
        session=exchange.header(b"x-session-id"),
    )
    work = (
        _stream(core, exchange, call, shell, store) if stream else _json(core, exchange, call, shell, store)
    )
    await exchange.run(
        work, heartbeat=core.config.gateway.heartbeat_interval, on_heartbeat=core.metrics.heartbeats.inc
    )
    return call.outcome


async def _keep(core: GatewayCore, call: Call, response: dict[str, Any], reply: dict[str, Any]) -> None:
    """Store the answer for ``previous_response_id``; a failing database costs the client only that."""
    try:
        conversation = conversation_with(call.request["messages"], reply)
        await core.responses.save(call.principal.owner, response, conversation)
    except Exception:
        log.exception("storing response %s of request %s failed", response.get("id"), call.request_id)


def _headers(outcome: Outcome) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in outcome.headers]


async def _json(core: GatewayCore, exchange: Exchange, call: Call, shell: ResponseShell, store: bool) -> None:
    answer = await core.create(call)
    response = message_to_response(answer.message, shell, completed_at=int(core.clock()))
    if store:
        await _keep(core, call, response, answer.message)
    await exchange.send_bytes(200, orjson.dumps(response), extra=_headers(call.outcome))


async def _stream(
    core: GatewayCore, exchange: Exchange, call: Call, shell: ResponseShell, store: bool
) -> None:
    reply = await core.stream(call)
    try:
        extra = _headers(call.outcome)
        if reply.downgraded:
            extra.append((b"x-stream-downgraded", b"true"))
        translator = MessagesToResponsesStream(shell, clock=core.clock)
        await send_stream(core, exchange, _translated(core, reply, translator, store), extra)
    finally:
        await reply.aclose()


def _frames(events: list[dict[str, Any]]) -> bytes:
    return b"".join([response_event_to_sse(event) for event in events])


async def _translated(
    core: GatewayCore, reply: StreamReply, translator: MessagesToResponsesStream, store: bool
) -> AsyncIterator[bytes]:
    feed = translator.feed
    try:
        async for batch in reply.batches():
            out: list[dict[str, Any]] = []
            for event in batch:
                out += feed(event)
            if translator.finished:
                response = translator.response
                if store and response is not None and response["status"] != "failed":
                    await _keep(core, reply.call, response, translator.message)
                yield LastChunk(_frames(out))
                return
            if out:
                yield _frames(out)
        yield LastChunk(_frames(translator.fail("the upstream stream ended before its end")))
    except Exception as exc:
        if not isinstance(exc, ClaudegateError):
            log.error("stream of request %s failed inside the gateway", reply.call.request_id, exc_info=exc)
        error = classify(exc)
        yield LastChunk(_frames(translator.fail(error.message, error.error_type)))


def _response_id(exchange: Exchange) -> str:
    for prefix in PREFIXES:
        if exchange.path.startswith(prefix):
            response_id = exchange.path[len(prefix) :]
            if response_id and "/" not in response_id:
                return response_id
    raise GatewayError(404, "not_found_error", "no route: name a response as /v1/responses/{id}")


async def retrieve_response(core: GatewayCore, exchange: Exchange) -> None:
    """``GET /v1/responses/{id}``: the caller's stored response (404 for anyone else's)."""
    principal = await core.principal(exchange.credential())
    response_id = _response_id(exchange)
    if "stream=true" in exchange.query:
        raise GatewayError(
            400,
            "invalid_request_error",
            "stream: replaying a response as a stream is not available",
            "stream",
        )
    stored = await core.responses.load(response_id, principal.owner)
    await exchange.send_bytes(200, orjson.dumps(stored.response))


async def delete_response(core: GatewayCore, exchange: Exchange) -> None:
    """``DELETE /v1/responses/{id}``: forget the caller's stored response."""
    principal = await core.principal(exchange.credential())
    response_id = _response_id(exchange)
    await core.responses.delete(response_id, principal.owner)
    deleted = {"id": response_id, "object": "response.deleted", "deleted": True}
    await exchange.send_bytes(200, orjson.dumps(deleted))
