"""What a route's retrieval adds to a request: the same question asked of a plain route and of
routes with ``retrieval`` (context and tool mode), through a gateway on loopback.

    .venv/bin/python bench/retrieval_route.py [--requests 200]

The gateway runs in this process under uvicorn with the in-process simulator as its upstream, so
the figures are the gateway's own work: for ``context``, embedding the question with the local
model and an exact search of the collection (this repository's docs, about 200 chunks), then the
passages into the request and the citations out; for ``tool``, two upstream calls and one
search. Requests go one after another over one kept-alive connection; p50 and p99 in ms, and the
p50 added to the plain route's.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from claudegate.gateway import create_app, parse_config
from claudegate.retrieval import Document, EmbeddedStore, Retriever
from claudegate.testing import LiveServer

DOCS = Path(__file__).resolve().parents[1] / "docs"
UPSTREAM = "claude-sonnet-4-5"
QUESTION = "How do I rotate a webhook signing secret?"


async def index(store: Path) -> int:
    retriever = Retriever(EmbeddedStore(store))
    try:
        await retriever.create_collection("docs")
        documents = [
            Document(path.name, path.read_text(encoding="utf-8")) for path in sorted(DOCS.glob("*.md"))
        ]
        return (await retriever.add_documents("docs", documents)).chunks
    finally:
        await retriever.store.close()


def route(name: str, retrieval: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {"name": name, "deployments": [{"provider": "simulator", "model": UPSTREAM}]}
    if retrieval is not None:
        config["retrieval"] = retrieval
    return config


def timings(base_url: str, model: str, question: str, count: int) -> list[float]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    body = orjson.dumps(
        {"model": model, "max_tokens": 512, "messages": [{"role": "user", "content": question}]}
    )
    headers = {"content-type": "application/json", "x-api-key": "sk-bench"}
    samples: list[float] = []
    try:
        for position in range(count + 10):  # the first ten warm up
            started = time.perf_counter()
            connection.request("POST", "/v1/messages", body, headers)
            response = connection.getresponse()
            answer = response.read()
            elapsed = time.perf_counter() - started
            assert response.status == 200, answer[:300]
            if position >= 10:
                samples.append(elapsed * 1000)
    finally:
        connection.close()
    return samples


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        store = Path(scratch) / "docs.db"
        chunks = asyncio.run(index(store))
        config = {
            "models": [
                route("plain", None),
                route("context", {"collection": "docs", "top_k": 5, "max_tokens": 2000}),
                route("tool", {"collection": "docs", "mode": "tool", "top_k": 5, "max_tokens": 2000}),
            ],
            "retrieval": {"path": str(store)},
            "observability": {"access_log": {"enabled": False}},
        }
        with LiveServer(create_app(parse_config(config))) as server:
            plain = percentiles(timings(server.base_url, "plain", QUESTION, options.requests))
            context = percentiles(timings(server.base_url, "context", QUESTION, options.requests))
            tool = percentiles(
                timings(server.base_url, "tool", f"Use search_docs: {QUESTION}", options.requests)
            )
    print(f"collection: {chunks} chunks of {DOCS}; {options.requests} requests per route, one at a time")
    print(f"{'route':<10}{'p50 ms':>10}{'p99 ms':>10}{'+p50 ms':>10}")
    for name, (p50, p99) in (("plain", plain), ("context", context), ("tool", tool)):
        print(f"{name:<10}{p50:>10.2f}{p99:>10.2f}{p50 - plain[0]:>10.2f}")


if __name__ == "__main__":
    main()
