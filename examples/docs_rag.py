"""Retrieval-augmented answers: index the project's docs, then let the model search them.

    python examples/docs_rag.py                                  # against an in-process simulator
    python examples/docs_rag.py --base-url URL --api-key KEY "How do I rotate a webhook secret?"

The docs (``docs/*.md``) go into an embedded collection (SQLite, the local embedding model: no
network, nothing downloaded); the model gets ``search_documents`` and answers citing the
``[source]`` ids the tool returned. The simulator calls a tool its prompt names, with generated
arguments, and answers with placeholder text: against it the run shows the mechanics, not a
real answer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from claudegate.client import AsyncClient
from claudegate.retrieval import Document, EmbeddedStore, Retriever, retrieval_tool
from claudegate.simulator import create_app
from claudegate.testing import LiveServer
from claudegate.tools import RunResult, ToolRegistry, ToolRunner

MODEL = "claude-sonnet-4-5"
DOCS = Path(__file__).resolve().parents[1] / "docs"


async def index_docs(retriever: Retriever, docs: Path = DOCS, collection: str = "docs") -> int:
    """Index every Markdown file of ``docs`` (document ids are the file names); the chunk count."""
    await retriever.create_collection(collection)
    documents = [Document(path.name, path.read_text(encoding="utf-8")) for path in sorted(docs.glob("*.md"))]
    report = await retriever.add_documents(collection, documents)
    return report.chunks


@contextmanager
def endpoint(base_url: str | None) -> Iterator[str]:
    """The given base URL, or an in-process simulator's."""
    if base_url is not None:
        yield base_url
        return
    with LiveServer(create_app()) as server:
        yield server.base_url


async def ask(base_url: str, api_key: str, retriever: Retriever, question: str) -> RunResult:
    """Run the tool loop for one question with the docs' search tool."""
    registry = ToolRegistry([retrieval_tool("docs", retriever, top_k=4, max_tokens=1200)])
    system = "Answer from the documents: search them first, and cite each source you use as [source]."
    async with AsyncClient(api_key=api_key, base_url=base_url) as client:
        runner = ToolRunner(client, registry)
        return await runner.run(
            model=MODEL,
            max_tokens=1024,
            system=system,
            messages=[{"role": "user", "content": question}],
        )


async def run(base_url: str, api_key: str, question: str, store_path: Path) -> RunResult:
    retriever = Retriever(EmbeddedStore(store_path), chunk_size=800, chunk_overlap=150)
    try:
        chunks = await index_docs(retriever)
        print(f"indexed {chunks} chunks of {DOCS}")
        return await ask(base_url, api_key, retriever, question)
    finally:
        await retriever.store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("question", nargs="?", default="How do I rotate a webhook signing secret?")
    parser.add_argument("--base-url")
    parser.add_argument("--api-key", default="sk-example-000000")
    options = parser.parse_args(argv)
    question = options.question
    if options.base_url is None:  # the simulator calls a tool that the prompt names
        question = f"Use search_documents: {question}"
    with tempfile.TemporaryDirectory() as scratch, endpoint(options.base_url) as base_url:
        result = asyncio.run(run(base_url, options.api_key, question, Path(scratch) / "docs.db"))
    for item in result.tool_results:
        print(f"{item.name} ({item.outcome}): {str(item.content)[:300]}")
    print(result.text)


if __name__ == "__main__":
    main(sys.argv[1:])
