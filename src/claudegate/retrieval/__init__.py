"""Retrieval: embeddings (a local model in the wheel, no network) and collections of documents
searched by vector, embedded in SQLite or in PostgreSQL with pgvector.

>>> retriever = Retriever(EmbeddedStore("docs.db"))
>>> await retriever.create_collection("docs")
>>> await retriever.add_documents("docs", [Document("guide", text)])
>>> for hit in await retriever.search("docs", "how do budgets work?"):
...     print(hit.score, hit.chunk_id)
"""

from claudegate.retrieval._chunking import chunk_text
from claudegate.retrieval._embedded import EmbeddedStore
from claudegate.retrieval._local import LOCAL_MODEL, LOCAL_MODEL_NAMES, LocalEmbedder, local_embedder
from claudegate.retrieval._passages import Passage, fit_to_budget, search_result_block
from claudegate.retrieval._pgvector import PgVectorStore
from claudegate.retrieval._retriever import (
    Document,
    Embedder,
    IndexReport,
    LocalEmbeddings,
    Retriever,
)
from claudegate.retrieval._store import (
    Chunk,
    CollectionExists,
    CollectionInfo,
    Hit,
    RetrievalError,
    UnknownCollection,
    VectorStore,
)
from claudegate.retrieval._tool import retrieval_tool

__all__ = [
    "LOCAL_MODEL",
    "LOCAL_MODEL_NAMES",
    "Chunk",
    "CollectionExists",
    "CollectionInfo",
    "Document",
    "EmbeddedStore",
    "Embedder",
    "Hit",
    "IndexReport",
    "LocalEmbedder",
    "LocalEmbeddings",
    "Passage",
    "PgVectorStore",
    "RetrievalError",
    "Retriever",
    "UnknownCollection",
    "VectorStore",
    "chunk_text",
    "fit_to_budget",
    "local_embedder",
    "retrieval_tool",
    "search_result_block",
]
