"""``POST /v1/embeddings`` in OpenAI's shape, routed like chat models (see ``GatewayCore.embed``).

The body is checked here (``input`` a string or list of strings, at most 2048 of them, none
empty; ``encoding_format``; ``dimensions``), so a bad request is refused before any upstream is
asked; the model's own limits (tokens per input, dimensions) are its deployment's to enforce.
"""

from __future__ import annotations

import orjson

from claudegate.gateway._http import Exchange
from claudegate.gateway.core import Call, GatewayCore, GatewayError, Outcome, parse_json_body
from claudegate.retrieval._embeddings_api import EmbeddingInputError, parse_embeddings_request

__all__ = ["create_embeddings"]


async def create_embeddings(core: GatewayCore, exchange: Exchange) -> Outcome:
    """Answer one embeddings request."""
    principal = await core.principal(exchange.credential())
    raw = await exchange.body(core.config.gateway.max_request_bytes)
    body = parse_json_body(raw)
    try:
        parsed = parse_embeddings_request(body)
    except EmbeddingInputError as exc:
        raise GatewayError(400, "invalid_request_error", str(exc), exc.param) from None
    call = exchange.call = Call(
        principal,
        "openai",
        body,
        size=len(raw),
        headers=exchange.forwarded_headers(),
        request_id=exchange.request_id,
        session=parsed.user,
        embeddings=True,
    )
    answer = await core.embed(call)
    headers = [(name.encode(), value.encode()) for name, value in call.outcome.headers]
    await exchange.send_bytes(200, orjson.dumps(answer), extra=headers)
    return call.outcome
