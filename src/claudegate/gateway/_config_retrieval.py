"""Retrieval settings: where collections live (``retrieval``), and a route answering from one
(``retrieval`` on a route). See docs/retrieval.md.

    retrieval:
      store: embedded                # or pgvector (database_url)
    models:
      - name: docs-assistant
        deployments: [{provider: anthropic, api_key: env:ANTHROPIC_API_KEY}]
        retrieval:
          collection: docs
          mode: context              # passages put before the request | tool: a search the gateway runs
          top_k: 5                   # passages per search at most
          min_score: 0.2             # cosine similarity below which a passage is left out
          max_tokens: 2000           # the passages' size, estimated at four characters a token
          filter: {lang: en}         # metadata the passages must have
          max_searches: 4            # tool: searches one request may run
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["RetrievalConfig", "RouteRetrieval"]

_COLLECTION = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NOT_IN_TOOL_NAMES = re.compile(r"[^A-Za-z0-9_-]")

Scalar = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrievalConfig(_Strict):
    """Collections (``/v1/collections``, docs/retrieval.md): where documents and vectors live."""

    store: Literal["embedded", "pgvector"] = "embedded"
    """``embedded``: a SQLite file and exact search; ``pgvector``: PostgreSQL with an HNSW index."""
    path: str = "claudegate-retrieval.db"
    """The embedded store's SQLite file."""
    database_url: str | None = None
    """``pgvector``: ``postgresql://…`` (or ``env:NAME``); the server needs the vector extension."""
    embedding_model: str = "local"
    """What a collection created without ``embedding_model`` embeds with."""
    chunk_size: int = Field(default=1000, ge=100, le=100_000)
    """Characters per chunk at most."""
    chunk_overlap: int = Field(default=200, ge=0)
    """Characters of whole sentences consecutive chunks share at most (below ``chunk_size``)."""
    ef_search: int = Field(default=100, ge=1, le=1000)
    """``pgvector``: candidates the HNSW search keeps (more: better recall, slower)."""

    @model_validator(mode="after")
    def _check(self) -> RetrievalConfig:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be below chunk_size")
        if self.store == "pgvector" and not self.database_url:
            raise ValueError("the pgvector store needs database_url")
        return self


class RouteRetrieval(_Strict):
    """A route that answers from a collection (``retrieval`` on a route).

    ``context``: the gateway searches the collection with the text of the last user message and
    puts the passages before it as ``search_result`` blocks with citations on. ``tool``: the
    gateway offers the model a search tool (``search_<collection>``), runs the searches it asks
    for and hands back only the final answer.
    """

    collection: str
    """The collection searched (it must exist when a request comes; it may be created later)."""
    mode: Literal["context", "tool"] = "context"
    top_k: int = Field(default=5, ge=1, le=100)
    """Passages per search at most."""
    min_score: float | None = Field(default=None, ge=-1.0, le=1.0)
    """Passages less similar than this (cosine) are left out."""
    max_tokens: int = Field(default=2000, ge=50, le=100_000)
    """The passages of one search together, estimated at four characters a token (the last one
    shortened to fit)."""
    filter: dict[str, Scalar | list[Scalar]] | None = None
    """Metadata the passages must have: a value, or a list of values one of which they have."""
    max_searches: int = Field(default=4, ge=1, le=20)
    """``tool``: searches one request may run; past them the model is asked to answer."""

    @field_validator("collection")
    @classmethod
    def _check_collection(cls, value: str) -> str:
        if not _COLLECTION.fullmatch(value):
            raise ValueError("must be a collection name: 1 to 64 letters, digits, '_', '.' or '-'")
        return value

    @property
    def tool_name(self) -> str:
        """The search tool's name in ``tool`` mode: ``search_<collection>`` (``.`` made ``_``)."""
        return "search_" + _NOT_IN_TOOL_NAMES.sub("_", self.collection)
