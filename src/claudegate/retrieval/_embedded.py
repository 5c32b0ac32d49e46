"""The embedded store: documents and float32 vectors in one SQLite file, exact cosine search with
numpy.

A collection's vectors are loaded into one matrix on its first search and kept until the
collection is written again, so a search is one matrix-vector product and a partial sort (about
10 ms for 100k 256-dimension vectors on one core). SQLite work runs in a worker thread, one
statement at a time, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
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
    matches,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["EmbeddedStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rag_collections (
    name TEXT PRIMARY KEY,
    embedding_model TEXT NOT NULL,
    dimensions INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rag_chunks (
    collection TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (collection, chunk_id)
);
CREATE INDEX IF NOT EXISTS rag_chunks_document ON rag_chunks (collection, document_id);
"""


@dataclass(slots=True)
class _Matrix:
    """A collection's vectors as searched: rowids, the matrix, metadata (decoded when filtered)."""

    rowids: NDArray[np.int64]
    vectors: NDArray[np.float32]
    metadata: list[bytes]
    decoded: list[dict[str, Any]] | None = None


class EmbeddedStore(VectorStore):
    """A SQLite file (``:memory:`` for a throwaway one)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._matrices: dict[str, _Matrix] = {}

    def __repr__(self) -> str:
        return f"EmbeddedStore({self.path!r})"

    async def _run(self, work: Any, *args: Any) -> Any:
        def locked() -> Any:
            with self._lock:
                return work(*args)

        return await asyncio.to_thread(locked)

    def _info(self, name: str) -> CollectionInfo:
        row = self._db.execute(
            "SELECT embedding_model, dimensions, created_at FROM rag_collections WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise UnknownCollection(name)
        documents, chunks = self._db.execute(
            "SELECT COUNT(DISTINCT document_id), COUNT(*) FROM rag_chunks WHERE collection = ?", (name,)
        ).fetchone()
        return CollectionInfo(name, row[0], row[1], documents, chunks, row[2])

    async def create_collection(self, name: str, embedding_model: str) -> CollectionInfo:
        def create() -> CollectionInfo:
            try:
                self._db.execute(
                    "INSERT INTO rag_collections (name, embedding_model, created_at) VALUES (?, ?, ?)",
                    (name, embedding_model, int(time.time())),
                )
            except sqlite3.IntegrityError:
                raise CollectionExists(name) from None
            return self._info(name)

        info: CollectionInfo = await self._run(create)
        return info

    async def collection(self, name: str) -> CollectionInfo:
        info: CollectionInfo = await self._run(self._info, name)
        return info

    async def collections(self) -> list[CollectionInfo]:
        def every() -> list[CollectionInfo]:
            names = self._db.execute("SELECT name FROM rag_collections ORDER BY name").fetchall()
            return [self._info(row[0]) for row in names]

        infos: list[CollectionInfo] = await self._run(every)
        return infos

    async def drop_collection(self, name: str) -> None:
        def drop() -> None:
            self._info(name)
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM rag_chunks WHERE collection = ?", (name,))
            self._db.execute("DELETE FROM rag_collections WHERE name = ?", (name,))
            self._db.execute("COMMIT")
            self._matrices.pop(name, None)

        await self._run(drop)

    async def upsert(self, name: str, chunks: list[Chunk], vectors: NDArray[np.float32]) -> None:
        rows = [
            (
                name,
                chunk.chunk_id,
                chunk.document_id,
                chunk.position,
                chunk.text,
                orjson.dumps(chunk.metadata).decode(),
                np.ascontiguousarray(vector, dtype="<f4").tobytes(),
            )
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        documents = sorted({(name, chunk.document_id) for chunk in chunks})

        def write() -> None:
            info = self._info(name)
            self._db.execute("BEGIN")
            try:
                if info.dimensions is None and rows:
                    self._db.execute(
                        "UPDATE rag_collections SET dimensions = ? WHERE name = ?", (vectors.shape[1], name)
                    )
                self._db.executemany(
                    "DELETE FROM rag_chunks WHERE collection = ? AND document_id = ?", documents
                )
                self._db.executemany("INSERT INTO rag_chunks VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._matrices.pop(name, None)

        await self._run(write)

    async def delete_document(self, name: str, document_id: str) -> bool:
        def delete() -> bool:
            self._info(name)
            cursor = self._db.execute(
                "DELETE FROM rag_chunks WHERE collection = ? AND document_id = ?", (name, document_id)
            )
            self._matrices.pop(name, None)
            return cursor.rowcount > 0

        deleted: bool = await self._run(delete)
        return deleted

    def _matrix(self, name: str) -> _Matrix:
        matrix = self._matrices.get(name)
        if matrix is not None:
            return matrix
        info = self._info(name)
        rows = self._db.execute(
            "SELECT rowid, vector, metadata FROM rag_chunks WHERE collection = ? ORDER BY rowid", (name,)
        ).fetchall()
        width = info.dimensions or 0
        vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype="<f4").astype(np.float32)
        matrix = _Matrix(
            np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
            vectors.reshape(len(rows), width),
            [row[2] for row in rows],
        )
        self._matrices[name] = matrix
        return matrix

    async def search(
        self,
        name: str,
        vector: NDArray[np.float32],
        top_k: int,
        filter: MetadataFilter | None = None,
        min_score: float | None = None,
    ) -> list[Hit]:
        hits: list[Hit] = await self._run(self._search, name, vector, top_k, filter, min_score)
        return hits

    def _search(
        self,
        name: str,
        vector: NDArray[np.float32],
        top_k: int,
        wanted: MetadataFilter | None,
        min_score: float | None,
    ) -> list[Hit]:
        matrix = self._matrix(name)
        if not len(matrix.rowids):
            return []
        scores = matrix.vectors @ vector.astype(np.float32, copy=False)
        if wanted:
            if matrix.decoded is None:
                matrix.decoded = [orjson.loads(raw) for raw in matrix.metadata]
            allowed = np.fromiter(
                (matches(meta, wanted) for meta in matrix.decoded), dtype=bool, count=len(matrix.decoded)
            )
            scores = np.where(allowed, scores, -np.inf)
        k = min(top_k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        best = best[np.isfinite(scores[best])]
        if min_score is not None:
            best = best[scores[best] >= min_score]
        return self._hits(matrix, best, scores)

    def _hits(self, matrix: _Matrix, best: NDArray[np.intp], scores: NDArray[np.float32]) -> list[Hit]:
        if not len(best):
            return []
        rowids = [int(matrix.rowids[i]) for i in best]
        marks = ",".join("?" * len(rowids))
        rows = {
            row[0]: row
            for row in self._db.execute(
                "SELECT rowid, document_id, chunk_id, text, metadata FROM rag_chunks "
                f"WHERE rowid IN ({marks})",
                rowids,
            )
        }
        hits = []
        for index, rowid in zip(best, rowids, strict=True):
            row = rows[rowid]
            hits.append(Hit(row[1], row[2], row[3], float(scores[index]), orjson.loads(row[4])))
        return hits

    async def close(self) -> None:
        await self._run(self._db.close)
