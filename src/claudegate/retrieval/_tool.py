"""Retrieval as a tool for the tool runner: the model asks in words, the tool answers with the
best chunks of a collection, each with its source id and score, cut to a token budget.

>>> registry = ToolRegistry([retrieval_tool("docs", retriever, top_k=5, max_tokens=1500)])
"""

from __future__ import annotations

from typing import Any

from claudegate.retrieval._passages import fit_to_budget
from claudegate.retrieval._retriever import Retriever
from claudegate.tools import Tool, ToolError, tool

__all__ = ["retrieval_tool"]


def retrieval_tool(
    collection: str,
    retriever: Retriever,
    *,
    name: str = "search_documents",
    description: str | None = None,
    top_k: int = 5,
    max_tokens: int = 2000,
    min_score: float | None = None,
    timeout: float | None = 30.0,
) -> Tool:
    """A tool searching ``collection``: up to ``top_k`` results, best first, whose texts together
    stay within about ``max_tokens`` tokens (the last one shortened to fit). Each result carries
    ``source`` (the chunk id, ``<document id>#<n>``) for the model to cite."""

    async def search(query: str) -> dict[str, Any]:
        """Search the documents for passages relevant to a question.

        Args:
            query: What to look for, in plain words (a question or key phrases).
        """
        if not query.strip():
            raise ToolError("query is empty: say what to look for")
        hits = await retriever.search(collection, query, top_k=top_k, min_score=min_score)
        results = [
            {
                "source": passage.hit.chunk_id,
                "document_id": passage.hit.document_id,
                "score": round(passage.hit.score, 4),
                "text": passage.text,
            }
            for passage in fit_to_budget(hits, max_tokens)
        ]
        return {"results": results, "cite": "name the source of each fact you use, as [source]"}

    summary = description or (
        f"Search the {collection!r} document collection; returns the most relevant passages with their "
        "source ids. Use it before answering questions about those documents, and cite the sources."
    )
    return tool(name=name, description=summary, timeout=timeout)(search)
