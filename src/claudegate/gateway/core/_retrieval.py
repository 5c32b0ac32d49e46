"""Collections behind the gateway: the configured store (opened on first use) and embeddings made
through the core, so a collection's indexing and queries pass the caller's key, model
permissions, limits and budget, and each embedding request writes its ledger row.

A route's own searches (``retrieval`` on a route) embed their query on behalf of the call they
serve (``Call.serves``): that call was admitted already, and the route chose the embedding
model, so the query's embedding is neither checked against the caller's model permissions nor
counted against their limits a second time; it writes its own ledger row all the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from claudegate.gateway._config import RetrievalConfig, resolve_text
from claudegate.gateway.core._call import Call, Dialect, Principal
from claudegate.retrieval import EmbeddedStore, PgVectorStore, Retriever, VectorStore
from claudegate.retrieval._embeddings_api import decode_embedding

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from claudegate.gateway.core._core import GatewayCore

__all__ = ["CoreEmbeddings", "RetrievalService", "open_store"]


def open_store(config: RetrievalConfig) -> VectorStore:
    """The store ``config`` names (not yet connected)."""
    if config.store == "pgvector":
        assert config.database_url is not None
        url = config.database_url
        if url.startswith(("env:", "secret:")):
            url = resolve_text(url, "retrieval.database_url")
        return PgVectorStore(url, ef_search=config.ef_search)
    return EmbeddedStore(config.path)


class CoreEmbeddings:
    """Embeddings through ``GatewayCore.embed`` for ``principal``, or for the call ``serves``
    (see the module docstring)."""

    def __init__(
        self, core: GatewayCore, principal: Principal, headers: Mapping[str, str], serves: Call | None = None
    ) -> None:
        self._core = core
        self._principal = principal
        self._headers = headers
        self._serves = serves

    async def embed(self, texts: list[str], model: str) -> NDArray[np.float32]:
        body = {"model": model, "input": texts, "encoding_format": "base64"}
        served = self._serves
        dialect: Dialect = served.dialect if served is not None else "openai"
        call = Call(
            self._principal,
            dialect,
            body,
            size=sum(len(text) for text in texts),
            headers=self._headers,
            embeddings=True,
            serves=served.request_id if served is not None else None,
        )
        answer = await self._core.embed(call)
        rows = sorted(answer["data"], key=lambda item: item["index"])
        vectors = np.stack([decode_embedding(item["embedding"]) for item in rows])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return vectors


class RetrievalService:
    """The gateway's store (one per process) and a ``Retriever`` per caller."""

    def __init__(self, core: GatewayCore) -> None:
        self.core = core
        self._store: VectorStore | None = None
        self._lock = asyncio.Lock()

    async def store(self) -> VectorStore:
        async with self._lock:
            if self._store is None:
                self._store = open_store(self.core.config.retrieval)
            return self._store

    async def retriever(
        self, principal: Principal, headers: Mapping[str, str], serves: Call | None = None
    ) -> Retriever:
        """A retriever whose embeddings go through the core for ``principal`` (for the call
        ``serves``, when a route searches on that call's behalf)."""
        config = self.core.config.retrieval
        return Retriever(
            await self.store(),
            CoreEmbeddings(self.core, principal, headers, serves),
            chunk_size=config.chunk_size,
            chunk_overlap=config.chunk_overlap,
            embedding_model=config.embedding_model,
        )

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None
