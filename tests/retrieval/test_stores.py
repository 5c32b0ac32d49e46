"""Both stores, the same behaviour: collections, idempotent documents, best-first search with
filters and a score floor, and clear refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from claudegate.retrieval import (
    CollectionExists,
    Document,
    EmbeddedStore,
    PgVectorStore,
    RetrievalError,
    Retriever,
    UnknownCollection,
    VectorStore,
)

GUIDE = (
    "Budgets cap what a key may spend per day and per month. A request past the cap is refused with 429. "
    "Rate limits count requests and tokens per minute for each key."
)
SOCKETS = "The WebSocket API multiplexes many streams on one connection. Rooms share streams between clients."


@pytest.fixture(params=["embedded", "pgvector"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    if request.param == "embedded":
        made: VectorStore = EmbeddedStore(tmp_path / "rag.db")
    else:
        dsn = request.getfixturevalue("pgvector_dsn")
        made = PgVectorStore(dsn, prefix=f"t{abs(hash(request.node.name)) % 10**8}")
    yield made
    for info in await made.collections():
        await made.drop_collection(info.name)
    await made.close()


async def test_documents_are_indexed_once_and_searched_best_first(store: VectorStore) -> None:
    retriever = Retriever(store, chunk_size=120, chunk_overlap=0)
    created = await retriever.create_collection("docs")
    assert (created.embedding_model, created.documents, created.dimensions) == ("local", 0, None)
    docs = [Document("guide", GUIDE, {"topic": "money"}), Document("ws", SOCKETS, {"topic": "streams"})]
    report = await retriever.add_documents("docs", docs)
    again = await retriever.add_documents("docs", docs)  # idempotent by document id
    info = await store.collection("docs")
    assert report == again and (info.documents, info.chunks, info.dimensions) == (2, report.chunks, 256)
    hits = await retriever.search("docs", "how much can a key spend each month?", top_k=3)
    assert hits[0].document_id == "guide" and hits[0].chunk_id == "guide#0"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].metadata == {"topic": "money"}
    only = await retriever.search("docs", "spend", top_k=5, filter={"topic": ["streams"]})
    assert {h.document_id for h in only} == {"ws"}
    floor = await retriever.search("docs", "spend", top_k=5, min_score=hits[0].score + 0.5)
    assert floor == []


async def test_replacing_and_deleting_a_document(store: VectorStore) -> None:
    retriever = Retriever(store)
    await retriever.create_collection("c")
    await retriever.add_documents("c", [Document("a", GUIDE), Document("b", SOCKETS)])
    await retriever.add_documents("c", [Document("a", "Entirely new text about gardening and tomatoes.")])
    hits = await retriever.search("c", "tomatoes in the garden", top_k=1)
    assert hits[0].document_id == "a" and "tomatoes" in hits[0].text
    assert await store.delete_document("c", "a") is True
    assert await store.delete_document("c", "a") is False
    assert {h.document_id for h in await retriever.search("c", "tomatoes", top_k=5)} == {"b"}


async def test_search_by_vector_and_its_refusals(store: VectorStore) -> None:
    retriever = Retriever(store)
    await retriever.create_collection("v")
    assert await retriever.search("v", "anything") == []  # empty: no dimensions yet
    await retriever.add_documents("v", [Document("a", GUIDE)])
    vector = (await retriever.embed(await store.collection("v"), [GUIDE]))[0]
    hits = await retriever.search("v", vector=(vector * 3).tolist(), top_k=1)
    assert hits[0].document_id == "a" and hits[0].score > 0.9
    with pytest.raises(RetrievalError, match="10 dimensions") as wrong:
        await retriever.search("v", vector=[0.1] * 10)
    assert wrong.value.param == "vector"
    for bad, param in [
        ({"query": "x", "top_k": 0}, "top_k"),
        ({"query": "x", "filter": {"k": {"nested": 1}}}, "filter"),
        ({}, "query"),
        ({"query": " "}, "query"),
        ({"vector": np.zeros(256).tolist()}, "vector"),
    ]:
        with pytest.raises(RetrievalError) as refused:
            await retriever.search("v", **bad)  # type: ignore[arg-type]
        assert refused.value.param == param


async def test_collections_exist_once_and_unknown_ones_are_named(store: VectorStore) -> None:
    retriever = Retriever(store)
    await retriever.create_collection("one")
    with pytest.raises(CollectionExists):
        await retriever.create_collection("one")
    with pytest.raises(UnknownCollection, match="'nope'"):
        await retriever.search("nope", "x")
    with pytest.raises(RetrievalError) as bad_name:
        await retriever.create_collection("has space")
    assert bad_name.value.param == "name"
    assert [info.name for info in await store.collections()] == ["one"]
    await store.drop_collection("one")
    with pytest.raises(UnknownCollection):
        await store.collection("one")
