"""What a vector store is: named collections of chunks with their vectors, searched by cosine.

Two stores implement it: ``EmbeddedStore`` (SQLite and exact search with numpy) and
``PgVectorStore`` (PostgreSQL with pgvector and an HNSW index). A collection's dimensions are
fixed by the first vectors stored in it. Writing a document's chunks replaces whatever chunks
that document had (so indexing again is idempotent).

A metadata ``filter`` maps keys to a value (the chunk's metadata must hold it) or to a list of
values (it must hold one of them).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "Chunk",
    "CollectionExists",
    "CollectionInfo",
    "Hit",
    "MetadataFilter",
    "RetrievalError",
    "UnknownCollection",
    "UnknownDocument",
    "VectorStore",
    "check_filter",
    "check_name",
    "matches",
]

Scalar = str | int | float | bool | None
MetadataFilter = dict[str, Scalar | list[Scalar]]
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class RetrievalError(ValueError):
    """A request a store or retriever refuses; ``param`` names the field, ``status`` the HTTP status."""

    status = 400

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class UnknownCollection(RetrievalError):
    status = 404

    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} does not exist", "name")


class UnknownDocument(RetrievalError):
    status = 404

    def __init__(self, collection: str, document_id: str) -> None:
        super().__init__(f"document {document_id!r} is not in collection {collection!r}", "document_id")


class CollectionExists(RetrievalError):
    status = 409

    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} already exists", "name")


def check_name(name: object) -> str:
    """A collection name: 1 to 64 letters, digits, ``_``, ``.`` or ``-``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RetrievalError("name: 1 to 64 letters, digits, '_', '.' or '-'", "name")
    return name


def check_filter(value: object) -> MetadataFilter | None:
    """A metadata filter (see the module docstring), or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RetrievalError("filter: must be an object of metadata values", "filter")
    for key, wanted in value.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if not options or not all(isinstance(option, str | int | float | bool) for option in options):
            raise RetrievalError(
                f"filter.{key}: must be a string, number or boolean, or a non-empty list of them", "filter"
            )
    return value


def matches(metadata: dict[str, Any], wanted: MetadataFilter) -> bool:
    """Whether ``metadata`` satisfies the filter."""
    for key, value in wanted.items():
        if key not in metadata:
            return False
        held = metadata[key]
        if isinstance(value, list):
            if held not in value:
                return False
        elif held != value:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a document, as stored."""

    document_id: str
    chunk_id: str
    position: int
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a chunk and its cosine similarity to the query (1 is identical)."""

    document_id: str
    chunk_id: str
    text: str
    score: float
    metadata: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "chunk_id": self.chunk_id,
            "text": self.text,
            "score": self.score,
            "metadata": self.metadata,
        }


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    name: str
    embedding_model: str
    dimensions: int | None
    documents: int
    chunks: int
    created_at: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "object": "collection",
            "name": self.name,
            "embedding_model": self.embedding_model,
            "dimensions": self.dimensions,
            "documents": self.documents,
            "chunks": self.chunks,
            "created_at": self.created_at,
        }


class VectorStore(ABC):
    """Collections of chunks and their unit vectors (see the module docstring)."""

    @abstractmethod
    async def create_collection(self, name: str, embedding_model: str) -> CollectionInfo:
        """A new, empty collection (``CollectionExists`` when the name is taken)."""

    @abstractmethod
    async def collection(self, name: str) -> CollectionInfo:
        """The collection (``UnknownCollection`` when there is none of that name)."""

    @abstractmethod
    async def collections(self) -> list[CollectionInfo]:
        """Every collection, by name."""

    @abstractmethod
    async def drop_collection(self, name: str) -> None:
        """Delete the collection and everything in it."""

    @abstractmethod
    async def upsert(self, name: str, chunks: list[Chunk], vectors: NDArray[np.float32]) -> None:
        """Store ``chunks`` (one row of ``vectors`` each), replacing their documents' old chunks."""

    @abstractmethod
    async def delete_document(self, name: str, document_id: str) -> bool:
        """Delete a document's chunks; False when it had none."""

    @abstractmethod
    async def search(
        self,
        name: str,
        vector: NDArray[np.float32],
        top_k: int,
        filter: MetadataFilter | None = None,
        min_score: float | None = None,
    ) -> list[Hit]:
        """The ``top_k`` chunks most similar to ``vector`` (a unit vector), best first."""

    async def close(self) -> None:
        """Release connections."""
        return None
