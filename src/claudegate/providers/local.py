"""The local embedding model as a provider: embeddings in process, no upstream, no network.

It serves embeddings only (``POST /v1/embeddings``); a chat request for it is a 400. The model is
loaded on first use, and texts are embedded in a worker thread so that the event loop keeps
serving other requests meanwhile.
"""

from __future__ import annotations

import asyncio

from claudegate.providers._base import (
    Provider,
    ProviderRequest,
    ProviderResponse,
    ProviderStream,
    invalid_request,
)
from claudegate.retrieval._embeddings_api import (
    MAX_INPUT_TOKENS,
    EmbeddingInputError,
    EncodingFormat,
    embeddings_answer,
    parse_embeddings_request,
)
from claudegate.retrieval._local import LOCAL_MODEL, LocalEmbedder, local_embedder

__all__ = ["LocalEmbeddingProvider"]


class LocalEmbeddingProvider(Provider):
    """The packaged WordLlama model (``claudegate.retrieval.LocalEmbedder``)."""

    kind = "local"
    embeds = True

    def __init__(self, embedder: LocalEmbedder | None = None) -> None:
        self._embedder = embedder

    async def create(self, request: ProviderRequest) -> ProviderResponse:
        raise invalid_request(_EMBEDDINGS_ONLY, "model")

    async def stream(self, request: ProviderRequest) -> ProviderStream:
        raise invalid_request(_EMBEDDINGS_ONLY, "model")

    async def embed(self, request: ProviderRequest) -> ProviderResponse:
        try:
            parsed = parse_embeddings_request(request.body)
        except EmbeddingInputError as exc:
            raise invalid_request(str(exc), exc.param) from None
        dimensions = parsed.dimensions
        if dimensions is not None and dimensions > LocalEmbedder.dimensions:
            raise invalid_request(
                f"dimensions: {LOCAL_MODEL} has {LocalEmbedder.dimensions} dimensions; ask for at most that",
                "dimensions",
            )
        return await asyncio.to_thread(self._answer, parsed.inputs, dimensions, parsed.encoding_format)

    def _answer(
        self, inputs: list[str], dimensions: int | None, encoding: EncodingFormat
    ) -> ProviderResponse:
        embedder = self._embedder = self._embedder or local_embedder()
        ids = embedder.token_ids(inputs)
        for index, row in enumerate(ids):
            if len(row) > MAX_INPUT_TOKENS:
                raise invalid_request(
                    f"input[{index}]: {len(row)} tokens, more than the {MAX_INPUT_TOKENS} one input may have",
                    "input",
                )
        vectors = embedder.embed_ids(ids, dimensions)
        tokens = sum(len(row) for row in ids)
        answer = embeddings_answer(vectors, LOCAL_MODEL, tokens, encoding)
        return ProviderResponse(message=answer)


_EMBEDDINGS_ONLY = f"model local ({LOCAL_MODEL}) serves embeddings only: POST /v1/embeddings"
