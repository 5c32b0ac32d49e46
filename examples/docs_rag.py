"""Retrieval-augmented answers with citations: index the project's docs, then ask a plain client.

    python examples/docs_rag.py                          # an in-process gateway over the simulator
    python examples/docs_rag.py --base-url URL --api-key KEY --model docs-assistant "question?"
    python examples/docs_rag.py --tool-runner            # the search as a client-side tool instead

By default the docs (``docs/*.md``) go into an embedded collection (SQLite, the local embedding
model: no network, nothing downloaded) and a gateway starts in process with a route that answers
from it::

    models:
      - name: docs-assistant
        deployments: [{provider: simulator, model: claude-sonnet-4-5}]
        retrieval: {collection: docs, top_k: 4, max_tokens: 1200}

The client sends nothing but the question: the gateway searches the collection, puts the
passages before the question as ``search_result`` blocks, and the answer comes back with
``search_result_location`` citations naming the documents (streamed here as they arrive). The
simulator answers by quoting the passages it cites, so the run shows the mechanics, not a
composed answer; behind a real Claude deployment the same route gives real ones. Against a
running gateway (``--base-url``), index first with ``claudegate index docs/ --collection docs``.

``--tool-runner`` keeps the route plain and gives the model ``retrieval_tool`` in the client's
own tool loop: it searches when it chooses to, and cites the ``[source]`` ids it was given.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from claudegate.client import AsyncClient
from claudegate.gateway import create_app as create_gateway
from claudegate.gateway import parse_config
from claudegate.retrieval import Document, EmbeddedStore, Retriever, retrieval_tool
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from claudegate.tools import RunResult, ToolRegistry, ToolRunner
from claudegate.types import Message, SearchResultLocationCitation, TextBlock

MODEL = "claude-sonnet-4-5"
ROUTE = "docs-assistant"
DOCS = Path(__file__).resolve().parents[1] / "docs"
CHUNK_SIZE, CHUNK_OVERLAP = 800, 150
CHUNKING = {"chunk_size": CHUNK_SIZE, "chunk_overlap": CHUNK_OVERLAP}


async def index_docs(retriever: Retriever, docs: Path = DOCS, collection: str = "docs") -> int:
    """Index every Markdown file of ``docs`` (document ids are the file names); the chunk count."""
    await retriever.create_collection(collection)
    documents = [Document(path.name, path.read_text(encoding="utf-8")) for path in sorted(docs.glob("*.md"))]
    report = await retriever.add_documents(collection, documents)
    return report.chunks


async def index_into(store_path: Path) -> int:
    """The docs indexed into the SQLite file ``store_path``; the chunk count."""
    retriever = Retriever(EmbeddedStore(store_path), chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    try:
        return await index_docs(retriever)
    finally:
        await retriever.store.close()


def gateway_config(store_path: Path) -> dict[str, Any]:
    """A gateway whose ``docs-assistant`` route answers from the ``docs`` collection."""
    route = {
        "name": ROUTE,
        "deployments": [{"provider": "simulator", "model": MODEL}],
        "retrieval": {"collection": "docs", "top_k": 4, "max_tokens": 1200},
    }
    return {"models": [route], "retrieval": {"path": str(store_path), **CHUNKING}}


@contextmanager
def gateway(store_path: Path) -> Iterator[str]:
    """An in-process gateway over the simulator (see ``gateway_config``): its base URL."""
    with LiveServer(create_gateway(parse_config(gateway_config(store_path)))) as server:
        yield server.base_url


async def ask_route(base_url: str, api_key: str, model: str, question: str, *, echo: bool = False) -> Message:
    """Stream the answer of a route with retrieval (printing its text as it comes when ``echo``)."""
    async with AsyncClient(api_key=api_key, base_url=base_url) as client:
        request: Any = {"role": "user", "content": question}
        async with client.messages.stream(model=model, max_tokens=1024, messages=[request]) as stream:
            async for text in stream.text_stream:
                if echo:
                    print(text, end="", flush=True)
            message = await stream.get_final_message()
    if echo:
        print()
    return message


def sources(message: Message) -> list[SearchResultLocationCitation]:
    """The answer's citations of search results, in the order they appear."""
    return [
        citation
        for block in message.content
        if isinstance(block, TextBlock)
        for citation in block.citations or ()
        if isinstance(citation, SearchResultLocationCitation)
    ]


def with_markers(message: Message) -> str:
    """The answer's text with ``[n]`` after each cited passage, then the numbered sources."""
    parts: list[str] = []
    cited = sources(message)
    for block in message.content:
        if not isinstance(block, TextBlock):
            continue
        parts.append(block.text)
        for citation in block.citations or ():
            if isinstance(citation, SearchResultLocationCitation):
                parts.append(f" [{cited.index(citation) + 1}]")
    listed = [f"[{n}] {c.title} ({c.source}): {c.cited_text[:100]}" for n, c in enumerate(cited, 1)]
    return "".join(parts) + "\n\n" + "\n".join(listed)


@contextmanager
def simulator(base_url: str | None) -> Iterator[str]:
    """The given base URL, or an in-process simulator's."""
    if base_url is not None:
        yield base_url
        return
    with LiveServer(create_simulator()) as server:
        yield server.base_url


async def ask_with_tool(base_url: str, api_key: str, retriever: Retriever, question: str) -> RunResult:
    """Run the client's tool loop for one question with the docs' search tool."""
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


async def run_tool_runner(base_url: str, api_key: str, question: str, store_path: Path) -> RunResult:
    """Index the docs into ``store_path``, then answer ``question`` with the tool loop."""
    retriever = Retriever(EmbeddedStore(store_path), chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    try:
        chunks = await index_docs(retriever)
        print(f"indexed {chunks} chunks of {DOCS}")
        return await ask_with_tool(base_url, api_key, retriever, question)
    finally:
        await retriever.store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("question", nargs="?", default="How do I rotate a webhook signing secret?")
    parser.add_argument("--base-url")
    parser.add_argument("--api-key", default="sk-example-000000")
    parser.add_argument("--model", default=ROUTE, help="a route with retrieval (with --base-url)")
    parser.add_argument("--tool-runner", action="store_true")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        store_path = Path(scratch) / "docs.db"
        if options.tool_runner:
            question = options.question
            if options.base_url is None:  # the simulator calls a tool that the prompt names
                question = f"Use search_documents: {question}"
            with simulator(options.base_url) as base_url:
                result = asyncio.run(run_tool_runner(base_url, options.api_key, question, store_path))
            for item in result.tool_results:
                print(f"{item.name} ({item.outcome}): {str(item.content)[:300]}")
            print(result.text)
            return
        if options.base_url is not None:
            message = asyncio.run(
                ask_route(options.base_url, options.api_key, options.model, options.question, echo=True)
            )
        else:
            print(f"indexed {asyncio.run(index_into(store_path))} chunks of {DOCS}")
            with gateway(store_path) as base_url:
                message = asyncio.run(
                    ask_route(base_url, options.api_key, ROUTE, options.question, echo=True)
                )
        print("\n" + with_markers(message))


if __name__ == "__main__":
    main(sys.argv[1:])
