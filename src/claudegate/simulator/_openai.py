"""``POST /v1/chat/completions``: the OpenAI dialect, translated to and from the engine's Messages.

The request goes through ``claudegate.translate.openai``; the reply comes back as a
``chat.completion`` or as ``chat.completion.chunk`` frames ending in ``data: [DONE]`` (with a usage
chunk when ``stream_options.include_usage``). Errors use OpenAI's envelope.
"""

from __future__ import annotations

import time

from claudegate.simulator._engine import Simulator
from claudegate.simulator._respond import Call, error_headers, json_delay, send_json, send_stream
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


async def chat_completions(simulator: Simulator, call: Call) -> None:
    """Answer one chat completion request (JSON or SSE) from the simulator's engine."""
    body = call.payload
    exchange = call.exchange
    try:
        request = chat_request_to_messages(
            body, default_max_tokens=simulator.config.openai_default_max_tokens
        )
    except TranslationError as exc:
        call.entry["status"] = 400
        await exchange.respond_json(400, exc.openai_envelope(), error_headers(400, None))
        return
    response_tool = response_format_tool_name(body)
    reply = simulator.plan(request)
    created = int(time.time())
    if call.streaming:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        translator = MessagesToChatStream(
            model=reply.model, include_usage=include_usage, created=created, response_tool=response_tool
        )
        chunks = [chunk for event in reply.events() for chunk in translator.feed(event)]
        chunks += translator.finish()
        await send_stream(call, [*(chunk_to_sse(chunk) for chunk in chunks), done_sse()])
        return
    completion = message_to_chat_completion(reply.message(), created=created, response_tool=response_tool)
    await send_json(call, completion, delay=json_delay(call.latency, reply))
