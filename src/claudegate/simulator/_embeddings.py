"""``POST /v1/embeddings``: deterministic OpenAI-shaped embeddings.

A text's vector is a signed bag of its lower-cased words, each word hashed to a few of the
vector's positions (BLAKE2b, so every run and every machine agrees), normalised. Texts sharing
words point the same way, so search over them behaves plausibly; identical texts get identical
vectors. Vectors have 1536 dimensions unless ``dimensions`` asks for fewer (at most 3072); usage
counts four characters per token, as the rest of the simulator does.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from claudegate.retrieval._embeddings_api import (
    EmbeddingInputError,
    embeddings_answer,
    parse_embeddings_request,
)
from claudegate.simulator._errors import api_error
from claudegate.simulator._respond import Call, error_headers, send_json
from claudegate.simulator._tokens import text_tokens

__all__ = ["DEFAULT_DIMENSIONS", "MAX_DIMENSIONS", "embeddings", "simulated_embeddings"]

DEFAULT_DIMENSIONS = 1536
MAX_DIMENSIONS = 3072
_WORD = re.compile(r"\w+")
_PLACES = 4


@lru_cache(maxsize=65536)
def _places(word: str) -> tuple[tuple[int, float], ...]:
    digest = hashlib.blake2b(word.encode(), digest_size=4 * _PLACES).digest()
    out = []
    for i in range(_PLACES):
        value = int.from_bytes(digest[4 * i : 4 * i + 4], "little")
        out.append((value >> 1, 1.0 if value & 1 else -1.0))
    return tuple(out)


def _vector(text: str, dimensions: int) -> NDArray[np.float32]:
    vector = np.zeros(dimensions, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        for place, sign in _places(word):
            vector[place % dimensions] += sign
    norm = float(np.linalg.norm(vector))
    if norm:
        vector /= norm
    else:
        vector[0] = 1.0
    return vector


def simulated_embeddings(body: dict[str, object]) -> dict[str, object]:
    """The answer to an embeddings request body, or ``EmbeddingInputError`` naming the bad field."""
    request = parse_embeddings_request(body)
    dimensions = request.dimensions or DEFAULT_DIMENSIONS
    if dimensions > MAX_DIMENSIONS:
        raise EmbeddingInputError(
            f"dimensions: at most {MAX_DIMENSIONS} for model {request.model!r}", "dimensions"
        )
    vectors = np.stack([_vector(text, dimensions) for text in request.inputs])
    tokens = sum(text_tokens(text) for text in request.inputs)
    return embeddings_answer(vectors, request.model, tokens, request.encoding_format)


async def embeddings(call: Call) -> None:
    """Answer one embeddings request (OpenAI's error envelope for a bad one)."""
    body = call.payload
    if not isinstance(body, dict):
        raise api_error(400, "invalid_request_error", "the request body must be a JSON object")
    try:
        answer = simulated_embeddings(body)
    except EmbeddingInputError as exc:
        call.entry["status"] = 400
        envelope = {
            "error": {"message": str(exc), "type": "invalid_request_error", "param": exc.param, "code": None}
        }
        await call.exchange.respond_json(400, envelope, error_headers(400, None))
        return
    await send_json(call, answer)
