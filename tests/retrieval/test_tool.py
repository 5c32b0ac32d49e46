"""``retrieval_tool`` in the tool runner: sources and scores, a token budget, and the docs example
answering against the simulator."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import orjson

from claudegate.retrieval import Document, EmbeddedStore, Retriever, retrieval_tool
from claudegate.simulator import create_app
from claudegate.testing import LiveServer
from claudegate.tools import ToolCall, ToolExecutor, ToolRegistry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "docs_rag.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_docs_rag", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_results_carry_sources_and_fit_the_budget() -> None:
    retriever = Retriever(EmbeddedStore(":memory:"), chunk_size=300, chunk_overlap=0)
    await retriever.create_collection("kb")
    text = " ".join(f"Budgets limit spending, fact {i}." for i in range(60))
    await retriever.add_documents("kb", [Document("money", text), Document("other", "Rooms share streams.")])
    search = retrieval_tool("kb", retriever, top_k=5, max_tokens=100)
    assert search.input_schema["required"] == ["query"]
    executor = ToolExecutor(ToolRegistry([search]))
    with executor:
        result = await executor.run(ToolCall("t1", "search_documents", {"query": "spending budgets"}))
    assert result.outcome == "ok"
    results = orjson.loads(result.content)["results"]
    assert results[0]["source"].startswith("money#") and results[0]["score"] > 0
    assert sum(len(r["text"]) for r in results) <= 100 * 4 + 2
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


async def test_the_docs_example_answers_with_the_tool_against_the_simulator(tmp_path: Path) -> None:
    example = _example()
    with LiveServer(create_app()) as server:
        result = await example.run_tool_runner(
            server.base_url,
            "sk-test-000000",
            "Use search_documents: how are webhooks signed?",
            tmp_path / "d.db",
        )
    [call] = result.tool_results
    assert call.name == "search_documents" and call.outcome == "ok"
    sources = [r["source"] for r in orjson.loads(call.content)["results"]]
    assert sources and all(source.split("#")[0].endswith(".md") for source in sources)
    assert "search_documents" in result.text


def test_the_docs_example_asks_a_route_with_retrieval_and_gets_citations(tmp_path: Path) -> None:
    """The example's default: a plain client asks the gateway's docs route; the answer cites the
    project's own docs, and is printed with numbered sources."""
    example = _example()
    store = tmp_path / "docs.db"
    assert asyncio.run(example.index_into(store)) > 50
    with example.gateway(store) as base_url:
        message = asyncio.run(
            example.ask_route(
                base_url, "sk-test-000000", example.ROUTE, "How do I rotate a webhook signing secret?"
            )
        )
    cited = example.sources(message)
    assert cited and all(c.source.split("#")[0].endswith(".md") for c in cited)
    assert any(c.title == "webhooks.md" and "rotat" in c.cited_text for c in cited)
    listed = example.with_markers(message).splitlines()[-len(cited) :]
    assert [line.split(" ", 1)[0] for line in listed] == [f"[{n}]" for n in range(1, len(cited) + 1)]
    assert listed[0].startswith(f"[1] {cited[0].title} ({cited[0].source}): ")
