"""Retrieval: embeddings (a local model in the wheel, no network) and collections of documents
searched by vector, embedded in SQLite or in PostgreSQL with pgvector."""

from claudegate.retrieval._local import LOCAL_MODEL, LOCAL_MODEL_NAMES, LocalEmbedder, local_embedder

__all__ = ["LOCAL_MODEL", "LOCAL_MODEL_NAMES", "LocalEmbedder", "local_embedder"]
