"""Collections as a user works with them: documents in (chunked, embedded, stored), text queries
out, over any ``VectorStore`` and any ``Embedder``.

>>> retriever = Retriever(EmbeddedStore("docs.db"))  # the local model: no network
>>> await retriever.create_collection("docs")
>>> await retriever.add_documents("docs", [Document("readme", text, {"lang": "en"})])
>>> hits = await retriever.search("docs", "how do I set a budget?", top_k=5)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from claudegate.retrieval._chunking import chunk_text
from claudegate.retrieval._embeddings_api import MAX_INPUTS
from claudegate.retrieval._local import LOCAL_MODEL_NAMES, local_embedder
from claudegate.retrieval._store import (
    Chunk,
    CollectionInfo,
    Hit,
    RetrievalError,
    VectorStore,
    check_filter,
    check_name,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["MAX_TOP_K", "Document", "Embedder", "IndexReport", "LocalEmbeddings", "Retriever", "documents_of"]

MAX_TOP_K = 100
_MAX_ID = 256


class Embedder(Protocol):
    """Turns texts into unit vectors with a named model."""

    async def embed(self, texts: list[str], model: str) -> NDArray[np.float32]: ...


class LocalEmbeddings:
    """The local model only (``local``), in a worker thread."""

    async def embed(self, texts: list[str], model: str) -> NDArray[np.float32]:
        if model not in LOCAL_MODEL_NAMES:
            raise RetrievalError(
                f"embedding_model: {model!r} needs the gateway; only 'local' embeds here", "embedding_model"
            )
        return await asyncio.to_thread(lambda: local_embedder().embed(texts))


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IndexReport:
    documents: int
    chunks: int


def documents_of(value: object) -> list[Document]:
    """``documents`` of a request body, checked (``RetrievalError`` naming the first bad field)."""
    if not isinstance(value, list) or not value:
        raise RetrievalError("documents: must be a non-empty list of {id, text, metadata}", "documents")
    out: list[Document] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = f"documents[{index}]"
        if not isinstance(item, dict):
            raise RetrievalError(f"{where}: must be an object with id and text", "documents")
        doc_id, text, metadata = item.get("id"), item.get("text"), item.get("metadata", {})
        if not isinstance(doc_id, str) or not doc_id or len(doc_id) > _MAX_ID:
            raise RetrievalError(f"{where}.id: must be a string of 1 to {_MAX_ID} characters", "documents")
        if doc_id in seen:
            raise RetrievalError(f"{where}.id: {doc_id!r} appears twice in this batch", "documents")
        if not isinstance(text, str) or not text.strip():
            raise RetrievalError(f"{where}.text: must be a non-empty string", "documents")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict) or not all(
            isinstance(v, str | int | float | bool) or v is None for v in metadata.values()
        ):
            raise RetrievalError(
                f"{where}.metadata: must be an object of strings, numbers and booleans", "documents"
            )
        seen.add(doc_id)
        out.append(Document(doc_id, text, metadata))
    return out


def _unit(vector: object, dimensions: int | None) -> NDArray[np.float32]:
    if not isinstance(vector, list | np.ndarray) or not len(vector):
        raise RetrievalError("vector: must be a non-empty list of numbers", "vector")
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise RetrievalError("vector: must be a list of numbers", "vector") from None
    if array.ndim != 1 or not np.isfinite(array).all():
        raise RetrievalError("vector: must be a flat list of finite numbers", "vector")
    if dimensions is not None and len(array) != dimensions:
        raise RetrievalError(
            f"vector: {len(array)} dimensions; the collection's vectors have {dimensions}", "vector"
        )
    norm = float(np.linalg.norm(array))
    if norm == 0:
        raise RetrievalError("vector: must not be all zeros", "vector")
    return array / norm


class Retriever:
    """A store, an embedder and chunking settings (see the module docstring)."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder | None = None,
        *,
        chunk_size: int = 1000,
        chunk_overlap: int = 200,
        embedding_model: str = "local",
    ) -> None:
        if chunk_size < 1 or not 0 <= chunk_overlap < chunk_size:
            raise ValueError("chunking needs chunk_size >= 1 and 0 <= chunk_overlap < chunk_size")
        self.store = store
        self.embedder: Embedder = embedder or LocalEmbeddings()
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.embedding_model = embedding_model

    async def create_collection(self, name: str, embedding_model: str | None = None) -> CollectionInfo:
        if embedding_model is not None and (not isinstance(embedding_model, str) or not embedding_model):
            raise RetrievalError("embedding_model: must be a model name", "embedding_model")
        return await self.store.create_collection(check_name(name), embedding_model or self.embedding_model)

    def chunks(self, document: Document) -> list[Chunk]:
        """The chunks ``document`` is stored as (ids ``<document id>#<position>``)."""
        pieces = chunk_text(document.text, self.chunk_size, self.chunk_overlap)
        return [
            Chunk(document.id, f"{document.id}#{i}", i, piece, document.metadata)
            for i, piece in enumerate(pieces)
        ]

    async def add_documents(self, name: str, documents: Sequence[Document]) -> IndexReport:
        """Chunk, embed and store ``documents``, replacing any earlier version of each (by id)."""
        info = await self.store.collection(name)
        chunks = [chunk for document in documents for chunk in self.chunks(document)]
        vectors = await self.embed(info, [chunk.text for chunk in chunks])
        await self.store.upsert(name, chunks, vectors)
        return IndexReport(len(documents), len(chunks))

    async def embed(self, info: CollectionInfo, texts: list[str]) -> NDArray[np.float32]:
        """``texts`` embedded by the collection's model, in requests of at most 2048 inputs."""
        parts = [
            await self.embedder.embed(texts[start : start + MAX_INPUTS], info.embedding_model)
            for start in range(0, len(texts), MAX_INPUTS)
        ]
        vectors = np.concatenate(parts) if parts else np.zeros((0, info.dimensions or 1), np.float32)
        if info.dimensions is not None and len(texts) and vectors.shape[1] != info.dimensions:
            raise RetrievalError(
                f"embedding_model: {info.embedding_model!r} now gives {vectors.shape[1]} dimensions; "
                f"collection {info.name!r} holds {info.dimensions}",
                "embedding_model",
            )
        return vectors

    async def search(
        self,
        name: str,
        query: str | None = None,
        *,
        vector: object = None,
        top_k: int = 5,
        filter: object = None,
        min_score: float | None = None,
    ) -> list[Hit]:
        """The chunks nearest ``query`` (embedded by the collection's model) or ``vector``."""
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise RetrievalError(f"top_k: must be an integer from 1 to {MAX_TOP_K}", "top_k")
        if min_score is not None and (isinstance(min_score, bool) or not isinstance(min_score, int | float)):
            raise RetrievalError("min_score: must be a number", "min_score")
        wanted = check_filter(filter)
        if (query is None) == (vector is None):
            raise RetrievalError("query: send a query text or a vector (one of them)", "query")
        info = await self.store.collection(name)
        if query is not None:
            if not isinstance(query, str) or not query.strip():
                raise RetrievalError("query: must be a non-empty string", "query")
            if info.dimensions is None:
                return []
            unit = (await self.embed(info, [query]))[0]
        else:
            unit = _unit(vector, info.dimensions)
            if info.dimensions is None:
                return []
        return await self.store.search(name, unit, top_k, wanted, min_score)
