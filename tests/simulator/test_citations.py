"""Search results with citations enabled: the simulator's answer cites them as the live API does
(``search_result_location`` citations on text blocks; a cited block streams ``citations: []`` at its
start, then its ``citations_delta`` events, then its text), read by the official SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic.types import CitationsSearchResultLocation

from claudegate.errors import BadRequestError
from claudegate.simulator import Simulator
from claudegate.simulator._citations import STATEMENT_WORDS
from claudegate.sse import validate_anthropic_events
from tests.simulator.conftest import Live

MODEL = "claude-sonnet-5"


def result(source: str, title: str, *texts: str, cite: bool = True) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "search_result",
        "source": source,
        "title": title,
        "content": [{"type": "text", "text": text} for text in texts],
    }
    if cite:
        block["citations"] = {"enabled": True}
    return block


BUDGETS = result(
    "budgets.md#0",
    "budgets.md",
    "Keys carry limits.",
    "A key's budget caps its spending per day and per month. Past it, calls are refused.",
)
SOCKETS = result("websocket.md#2", "websocket.md", "The WebSocket API runs many streams on one connection.")


def ask(
    *content: dict[str, Any], question: str = "How does a budget cap spending?", **fields: Any
) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": [*content, {"type": "text", "text": question}]}],
        **fields,
    }


def test_each_statement_cites_its_result_by_index_and_block_range() -> None:
    message = Simulator().create(ask(BUDGETS, SOCKETS))
    cited = [block for block in message["content"] if block.get("citations")]
    assert [block["citations"] for block in cited] == [
        [
            {
                "type": "search_result_location",
                "source": "budgets.md#0",
                "title": "budgets.md",
                "cited_text": BUDGETS["content"][1]["text"],
                "search_result_index": 0,
                "start_block_index": 1,  # the block sharing the most words with the question
                "end_block_index": 2,
            }
        ],
        [
            {
                "type": "search_result_location",
                "source": "websocket.md#2",
                "title": "websocket.md",
                "cited_text": SOCKETS["content"][0]["text"],
                "search_result_index": 1,
                "start_block_index": 0,
                "end_block_index": 1,
            }
        ],
    ]
    assert cited[0]["text"] == "A key's budget caps its spending per day and per month"
    text = "".join(block["text"] for block in message["content"])
    assert "From the search results: A key's budget caps" in text and "; The WebSocket API" in text
    assert all("citations" not in block for block in message["content"] if block not in cited)


def test_results_are_numbered_across_the_request_and_only_the_last_turn_is_cited() -> None:
    earlier = result("old.md#0", "old.md", "An earlier result, numbered but not cited now.")
    inside_a_tool_result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [SOCKETS]}
    request = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": [earlier, {"type": "text", "text": "first question"}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}],
            },
            {
                "role": "user",
                "content": [inside_a_tool_result, result("plain.md#0", "plain.md", "No cite.", cite=False)],
            },
        ],
    }
    message = Simulator().create(request)
    citations = [c for block in message["content"] for c in block.get("citations") or ()]
    assert [(c["source"], c["search_result_index"]) for c in citations] == [("websocket.md#2", 1)]


def test_without_enabled_citations_the_reply_is_plain() -> None:
    message = Simulator().create(ask(result("a#0", "a", "Some text.", cite=False)))
    assert len(message["content"]) == 1 and "citations" not in message["content"][0]


def test_a_long_sentence_is_cut_to_the_statement_length() -> None:
    words = [f"word{i}" for i in range(STATEMENT_WORDS * 2)]
    message = Simulator().create(ask(result("long#0", "long", " ".join(words) + ".")))
    cited = next(block for block in message["content"] if block.get("citations"))
    assert cited["text"] == " ".join(words[:STATEMENT_WORDS])
    assert cited["citations"][0]["cited_text"] == " ".join(words) + "."


def test_the_stream_starts_cited_blocks_with_an_empty_list_and_cites_before_the_text() -> None:
    sim = Simulator()
    request = ask(BUDGETS, SOCKETS)
    events = sim.events(request)
    validate_anthropic_events(events)
    starts = [event for event in events if event["type"] == "content_block_start"]
    cited_starts = [event["index"] for event in starts if "citations" in event["content_block"]]
    assert [event["content_block"] for event in starts if event["index"] in cited_starts] == [
        {"citations": [], "type": "text", "text": ""}
    ] * 2
    for index in cited_starts:
        deltas = [
            e["delta"]["type"] for e in events if e["type"] == "content_block_delta" and e["index"] == index
        ]
        assert deltas[0] == "citations_delta" and set(deltas[1:]) == {"text_delta"}
    assert sim.plan(request).event_count() == len(events)


def test_usage_counts_the_search_results_and_not_the_cited_text() -> None:
    sim = Simulator()
    with_results = sim.create(ask(BUDGETS))
    counted = sim.count_tokens(ask(BUDGETS))
    assert with_results["usage"]["input_tokens"] == counted
    assert counted > sim.count_tokens(ask())
    per_block = [-(-len(block["text"]) // 4) for block in with_results["content"]]  # cited_text is free
    assert with_results["usage"]["output_tokens"] == sum(per_block)


@pytest.mark.parametrize(
    ("block", "path"),
    [
        (
            {"type": "search_result", "title": "t", "content": [{"type": "text", "text": "x"}]},
            "0.source: Field required",
        ),
        (
            {"type": "search_result", "source": "s", "title": "t", "content": []},
            "0.content: List should have",
        ),
        (
            {"type": "search_result", "source": "s", "title": "t", "content": [{"type": "image"}]},
            "0.content.0.type",
        ),
        (
            {
                "type": "search_result",
                "source": "s",
                "title": "t",
                "content": [{"type": "text", "text": "x"}],
                "citations": {"enabled": "yes"},
            },
            "0.citations.enabled",
        ),
    ],
)
def test_malformed_search_results_are_refused_naming_the_field(block: dict[str, Any], path: str) -> None:
    with pytest.raises(BadRequestError, match=f"messages.0.content.{path}"):
        Simulator().create(ask(block))


def test_the_sdk_reads_the_citations_from_json_and_stream(live: Live) -> None:
    with anthropic.Anthropic(base_url=live.base_url, api_key="sk-ant-test", max_retries=0) as client:
        messages: Any = ask(BUDGETS, SOCKETS)["messages"]
        whole = client.messages.create(model=MODEL, max_tokens=1024, messages=messages)
        with client.messages.stream(model=MODEL, max_tokens=1024, messages=messages) as stream:
            seen = [event.citation for event in stream if event.type == "citation"]
            final = stream.get_final_message()
    assert final.model_dump() == whole.model_dump()
    citations = [c for block in whole.content if block.type == "text" for c in block.citations or ()]
    assert citations == seen
    assert all(isinstance(c, CitationsSearchResultLocation) for c in citations)
    found = [
        (c.source, c.search_result_index) for c in citations if isinstance(c, CitationsSearchResultLocation)
    ]
    assert found == [("budgets.md#0", 0), ("websocket.md#2", 1)]
