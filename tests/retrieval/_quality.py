"""Recall@10 on the labelled set (data/README.md): the local model against BM25 over the same chunks."""

from __future__ import annotations

import re

from claudegate.retrieval import Document, EmbeddedStore, Retriever
from tests.retrieval._corpus import questions, sections

__all__ = ["bm25_recall", "local_recall", "recall"]

TOP_K = 10
_WORD = re.compile(r"\w+")


def recall(found: list[list[str]]) -> float:
    """Mean over questions of the share of their relevant sections among ``found`` (in order)."""
    labelled = questions()
    shares = [
        len(set(relevant) & set(hits)) / len(relevant)
        for (_, relevant), hits in zip(labelled, found, strict=True)
    ]
    return sum(shares) / len(shares)


async def local_recall() -> tuple[float, Retriever]:
    """Recall@10 of the local model (chunks of 1000 characters, 200 overlapping)."""
    retriever = Retriever(EmbeddedStore(":memory:"))
    await retriever.create_collection("docs")
    await retriever.add_documents("docs", [Document(i, text) for i, text in sections()])
    found = []
    for question, _ in questions():
        hits = await retriever.search("docs", question, top_k=TOP_K)
        found.append([hit.document_id for hit in hits])
    return recall(found), retriever


def bm25_recall(retriever: Retriever) -> float:
    """Recall@10 of BM25 (Okapi) over the very chunks the local model searched."""
    from rank_bm25 import BM25Okapi  # type: ignore[import-untyped]

    chunks = [chunk for i, text in sections() for chunk in retriever.chunks(Document(i, text))]
    index = BM25Okapi([_WORD.findall(chunk.text.lower()) for chunk in chunks])
    found = []
    for question, _ in questions():
        scores = index.get_scores(_WORD.findall(question.lower()))
        best = sorted(range(len(chunks)), key=lambda i: -scores[i])[:TOP_K]
        found.append([chunks[i].document_id for i in best])
    return recall(found)
