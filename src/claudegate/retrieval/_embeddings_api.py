"""The OpenAI embeddings request and answer (``POST /v1/embeddings``), checked and built without I/O.

A request's ``input`` is a string or a list of strings (token arrays are refused: a gateway's
models do not share a vocabulary), ``encoding_format`` is ``float`` (lists of numbers) or
``base64`` (little-endian float32 bytes, what the official SDKs ask for by default), and
``dimensions`` shortens the vectors where the model allows it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "MAX_INPUTS",
    "MAX_INPUT_TOKENS",
    "EmbeddingInputError",
    "EmbeddingsRequest",
    "EncodingFormat",
    "decode_embedding",
    "embeddings_answer",
    "parse_embeddings_request",
]

MAX_INPUTS = 2048
"""The most inputs one request may carry (as OpenAI's API)."""
MAX_INPUT_TOKENS = 8192
"""The most tokens one input may have (as OpenAI's current embedding models)."""

EncodingFormat = Literal["float", "base64"]


class EmbeddingInputError(ValueError):
    """A request the embeddings API refuses; ``param`` names the field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class EmbeddingsRequest:
    model: str
    inputs: list[str]
    encoding_format: EncodingFormat = "float"
    dimensions: int | None = None
    user: str | None = None


def parse_embeddings_request(body: dict[str, Any]) -> EmbeddingsRequest:
    """The request's fields, or ``EmbeddingInputError`` naming the first bad one."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise EmbeddingInputError("model: must be a model name", "model")
    inputs = _inputs(body.get("input"))
    encoding = body.get("encoding_format", "float")
    if encoding is None:
        encoding = "float"
    if encoding not in ("float", "base64"):
        raise EmbeddingInputError("encoding_format: must be 'float' or 'base64'", "encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1
    ):
        raise EmbeddingInputError("dimensions: must be a positive integer", "dimensions")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise EmbeddingInputError("user: must be a string", "user")
    return EmbeddingsRequest(model, inputs, encoding, dimensions, user)


def _inputs(value: object) -> list[str]:
    if value is None:
        raise EmbeddingInputError("input: field required", "input")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise EmbeddingInputError("input: must be a string or a list of strings", "input")
    if not value:
        raise EmbeddingInputError("input: must not be empty", "input")
    if len(value) > MAX_INPUTS:
        raise EmbeddingInputError(
            f"input: {len(value)} inputs, more than the {MAX_INPUTS} one request may carry", "input"
        )
    for index, item in enumerate(value):
        if isinstance(item, int | list) and not isinstance(item, bool):
            raise EmbeddingInputError(
                "input: token arrays are not accepted by this gateway; send the text", "input"
            )
        if not isinstance(item, str):
            raise EmbeddingInputError(f"input[{index}]: must be a string", "input")
        if not item.strip():
            raise EmbeddingInputError(f"input[{index}]: must not be empty", "input")
    return value


def embeddings_answer(
    vectors: NDArray[np.float32], model: str, prompt_tokens: int, encoding: EncodingFormat
) -> dict[str, Any]:
    """The OpenAI ``list`` of ``embedding`` objects for ``vectors`` (one row per input)."""
    data: list[dict[str, Any]] = []
    if encoding == "base64":
        little = vectors.astype("<f4", copy=False)
        for index, row in enumerate(little):
            data.append(
                {"object": "embedding", "index": index, "embedding": base64.b64encode(row.tobytes()).decode()}
            )
    else:
        for index, row in enumerate(vectors.tolist()):
            data.append({"object": "embedding", "index": index, "embedding": row})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def decode_embedding(value: object, param: str = "embedding") -> NDArray[np.float32]:
    """One embedding of an answer (a list of numbers or base64 float32) as a vector."""
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), dtype="<f4").astype(np.float32)
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float32)
    raise EmbeddingInputError(f"{param}: not an embedding", param)
