"""The PostgreSQL store: chunks in one table per collection with a ``vector(d)`` column and an HNSW
index (cosine), through asyncpg and the ``pgvector`` package.

The ``vector`` extension must be available to the server (``CREATE EXTENSION IF NOT EXISTS vector``
runs at start). A collection's table is made when its first vectors arrive (that fixes its
dimensions), and its HNSW index is built over that first batch at once; later writes add to it.
Searches use the index with ``hnsw.ef_search`` candidates (default 100); with a metadata filter
the scan is iterative (pgvector 0.8), so filtered searches still fill ``top_k`` when enough chunks
match. ``exact=True`` on ``search`` scans without the index (what the index's recall is measured
against).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from claudegate.retrieval._store import (
    Chunk,
    CollectionExists,
    CollectionInfo,
    Hit,
    MetadataFilter,
    UnknownCollection,
    VectorStore,
)

if TYPE_CHECKING:
    import asyncpg  # type: ignore[import-untyped]
    from numpy.typing import NDArray

__all__ = ["PgVectorStore"]

_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,30}")


class PgVectorStore(VectorStore):
    """Collections in PostgreSQL (``postgresql://…``); ``prefix`` names its tables."""

    def __init__(
        self, dsn: str, *, prefix: str = "cg_rag", ef_search: int = 100, hnsw_m: int = 16, pool_size: int = 4
    ) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise ValueError("prefix: lower-case letters, digits and '_', starting with a letter")
        self._dsn = dsn
        self._prefix = prefix
        self._ef_search = ef_search
        self._m = hnsw_m
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return f"PgVectorStore(prefix={self._prefix!r})"  # the DSN may hold a password

    async def _connection_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            import asyncpg
            from pgvector.asyncpg import register_vector

            async def setup(connection: asyncpg.Connection) -> None:
                await register_vector(connection)

            first = await asyncpg.connect(self._dsn)
            try:
                await first.execute("CREATE EXTENSION IF NOT EXISTS vector")
                await first.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._prefix}_collections ("
                    "id SERIAL PRIMARY KEY, name TEXT UNIQUE NOT NULL, embedding_model TEXT NOT NULL, "
                    "dimensions INTEGER, created_at BIGINT NOT NULL)"
                )
            finally:
                await first.close()
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=self._pool_size, init=setup
            )
        return self._pool

    async def _row(self, connection: asyncpg.Connection, name: str) -> Any:
        row = await connection.fetchrow(
            f"SELECT id, embedding_model, dimensions, created_at FROM {self._prefix}_collections "
            "WHERE name = $1",
            name,
        )
        if row is None:
            raise UnknownCollection(name)
        return row

    def _table(self, collection_id: int) -> str:
        return f"{self._prefix}_chunks_{collection_id}"

    async def _info(self, connection: asyncpg.Connection, name: str) -> CollectionInfo:
        row = await self._row(connection, name)
        documents = chunks = 0
        if row["dimensions"] is not None:
            counted = await connection.fetchrow(
                f"SELECT COUNT(DISTINCT document_id) AS d, COUNT(*) AS c FROM {self._table(row['id'])}"
            )
            documents, chunks = counted["d"], counted["c"]
        return CollectionInfo(
            name, row["embedding_model"], row["dimensions"], documents, chunks, row["created_at"]
        )

    async def create_collection(self, name: str, embedding_model: str) -> CollectionInfo:
        import asyncpg

        pool = await self._connection_pool()
        async with pool.acquire() as connection:
            try:
                await connection.execute(
                    f"INSERT INTO {self._prefix}_collections (name, embedding_model, created_at) "
                    "VALUES ($1, $2, $3)",
                    name,
                    embedding_model,
                    int(time.time()),
                )
            except asyncpg.UniqueViolationError:
                raise CollectionExists(name) from None
            return await self._info(connection, name)

    async def collection(self, name: str) -> CollectionInfo:
        pool = await self._connection_pool()
        async with pool.acquire() as connection:
            return await self._info(connection, name)

    async def collections(self) -> list[CollectionInfo]:
        pool = await self._connection_pool()
        async with pool.acquire() as connection:
            names = await connection.fetch(f"SELECT name FROM {self._prefix}_collections ORDER BY name")
            return [await self._info(connection, row["name"]) for row in names]

    async def drop_collection(self, name: str) -> None:
        pool = await self._connection_pool()
        async with pool.acquire() as connection, connection.transaction():
            row = await self._row(connection, name)
            await connection.execute(f"DROP TABLE IF EXISTS {self._table(row['id'])}")
            await connection.execute(f"DELETE FROM {self._prefix}_collections WHERE id = $1", row["id"])

    async def upsert(self, name: str, chunks: list[Chunk], vectors: NDArray[np.float32]) -> None:
        if not chunks:
            return
        pool = await self._connection_pool()
        async with pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                f"SELECT id, dimensions FROM {self._prefix}_collections WHERE name = $1 FOR UPDATE", name
            )
            if row is None:
                raise UnknownCollection(name)
            table = self._table(row["id"])
            fresh = row["dimensions"] is None
            if fresh:
                await self._create_table(connection, table, int(vectors.shape[1]))
                await connection.execute(
                    f"UPDATE {self._prefix}_collections SET dimensions = $1 WHERE id = $2",
                    int(vectors.shape[1]),
                    row["id"],
                )
            documents = sorted({chunk.document_id for chunk in chunks})
            await connection.execute(f"DELETE FROM {table} WHERE document_id = ANY($1::text[])", documents)
            await connection.copy_records_to_table(
                table,
                records=[
                    (c.chunk_id, c.document_id, c.position, c.text, orjson.dumps(c.metadata).decode(), v)
                    for c, v in zip(chunks, np.asarray(vectors, dtype=np.float32), strict=True)
                ],
                columns=["chunk_id", "document_id", "position", "text", "metadata", "embedding"],
            )
            if fresh:  # built over the first batch at once: much faster than row by row
                await connection.execute("SET LOCAL maintenance_work_mem = '512MB'")
                await connection.execute(
                    f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops) WITH (m = {self._m})"
                )

    async def _create_table(self, connection: asyncpg.Connection, table: str, dimensions: int) -> None:
        await connection.execute(
            f"CREATE TABLE {table} (chunk_id TEXT PRIMARY KEY, document_id TEXT NOT NULL, "
            f"position INTEGER NOT NULL, text TEXT NOT NULL, metadata JSONB NOT NULL, "
            f"embedding vector({dimensions}) NOT NULL)"
        )
        await connection.execute(f"CREATE INDEX ON {table} (document_id)")

    async def delete_document(self, name: str, document_id: str) -> bool:
        pool = await self._connection_pool()
        async with pool.acquire() as connection:
            row = await self._row(connection, name)
            if row["dimensions"] is None:
                return False
            status = await connection.execute(
                f"DELETE FROM {self._table(row['id'])} WHERE document_id = $1", document_id
            )
            return not status.endswith(" 0")

    async def search(
        self,
        name: str,
        vector: NDArray[np.float32],
        top_k: int,
        filter: MetadataFilter | None = None,
        min_score: float | None = None,
        *,
        exact: bool = False,
    ) -> list[Hit]:
        pool = await self._connection_pool()
        async with pool.acquire() as connection, connection.transaction():
            row = await self._row(connection, name)
            if row["dimensions"] is None:
                return []
            ef_search = max(self._ef_search, top_k)
            await connection.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
            if exact:
                await connection.execute("SET LOCAL enable_indexscan = off")
            clauses: list[str] = []
            args: list[Any] = [np.asarray(vector, dtype=np.float32), top_k]
            for key, wanted in (filter or {}).items():
                options = wanted if isinstance(wanted, list) else [wanted]
                args += [key, [orjson.dumps(option).decode() for option in options]]
                clauses.append(f"metadata -> ${len(args) - 1} = ANY(${len(args)}::jsonb[])")
            if clauses:
                await connection.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
            rows = await connection.fetch(
                f"SELECT document_id, chunk_id, text, metadata, embedding <=> $1 AS distance "
                f"FROM {self._table(row['id'])} {where} ORDER BY embedding <=> $1 LIMIT $2",
                *args,
            )
        hits = [
            Hit(
                r["document_id"],
                r["chunk_id"],
                r["text"],
                1.0 - float(r["distance"]),
                orjson.loads(r["metadata"]),
            )
            for r in rows
        ]
        hits.sort(key=lambda hit: -hit.score)  # relaxed order: nearly sorted already
        return [hit for hit in hits if min_score is None or hit.score >= min_score]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
