"""Search results in, cited text out: how the simulated model answers from ``search_result`` blocks.

The live API numbers a request's ``search_result`` blocks in order across its messages, tool
results included (``search_result_index``), and a text block of the answer that rests on one of
them carries a ``search_result_location`` citation: the result's ``source`` and ``title``, the
range of its content blocks cited (``start_block_index`` inclusive, ``end_block_index``
exclusive) and their text (``cited_text``).

The simulator answers from the search results of the last user turn that have
``citations: {"enabled": true}`` (up to ``CITED_RESULTS`` of them, in order)::

    <opener> From the search results: <statement 1>; <statement 2>. <closer>

Each statement is its own text block citing one result: the first sentence (at most
``STATEMENT_WORDS`` words) of the result's content block that shares the most words with the
question (the first on a tie), and that block is the cited range. The glue between statements is
uncited text, as the live API splits an answer into cited and uncited blocks.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claudegate.simulator._text import CLOSERS, OPENERS

__all__ = ["CITED_RESULTS", "STATEMENT_WORDS", "SearchResult", "cited_reply", "search_results_of_turn"]

CITED_RESULTS = 3
STATEMENT_WORDS = 25
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A citable ``search_result`` block of the request, with its place among all of them."""

    index: int
    source: str
    title: str
    texts: tuple[str, ...]


def _result(block: Mapping[str, Any], index: int) -> SearchResult | None:
    citations = block.get("citations")
    if not isinstance(citations, Mapping) or citations.get("enabled") is not True:
        return None
    source, title, content = block.get("source"), block.get("title"), block.get("content")
    if not isinstance(source, str) or not isinstance(title, str) or not isinstance(content, list):
        return None
    texts = tuple(
        item["text"]
        for item in content
        if isinstance(item, Mapping) and item.get("type") == "text" and isinstance(item.get("text"), str)
    )
    return SearchResult(index, source, title, texts) if len(texts) == len(content) and texts else None


def _blocks_in_order(content: Any) -> list[Mapping[str, Any]]:
    """A message's ``search_result`` blocks, those inside its tool results included, in order."""
    found: list[Mapping[str, Any]] = []
    if not isinstance(content, list):
        return found
    for block in content:
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "search_result":
            found.append(block)
        elif block.get("type") == "tool_result" and isinstance(block.get("content"), list):
            found += [
                item
                for item in block["content"]
                if isinstance(item, Mapping) and item.get("type") == "search_result"
            ]
    return found


def search_results_of_turn(messages: list[Any]) -> list[SearchResult]:
    """The citable search results of the last user message, numbered across the whole request."""
    last_user = max(
        (
            i
            for i, message in enumerate(messages)
            if isinstance(message, Mapping) and message.get("role") == "user"
        ),
        default=-1,
    )
    index = 0
    cited: list[SearchResult] = []
    for position, message in enumerate(messages):
        if not isinstance(message, Mapping):
            continue
        for block in _blocks_in_order(message.get("content")):
            if position == last_user:
                result = _result(block, index)
                if result is not None:
                    cited.append(result)
            index += 1
    return cited


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def _statement(text: str) -> str:
    sentence = _SENTENCE_END.split(" ".join(text.split()), maxsplit=1)[0]
    words = sentence.split()
    short = " ".join(words[:STATEMENT_WORDS])
    return short.rstrip(".!?;:,") or short


def cited_reply(
    results: list[SearchResult], question: str, rng: random.Random
) -> list[tuple[str, dict[str, Any] | None]]:
    """The answer as ``(text, citation or None)`` pieces, one text block each."""
    opener, closer = rng.choice(OPENERS), rng.choice(CLOSERS)
    asked = _words(question)
    pieces: list[tuple[str, dict[str, Any] | None]] = [(f"{opener} From the search results: ", None)]
    chosen = results[:CITED_RESULTS]
    for position, result in enumerate(chosen):
        overlaps = [len(asked & _words(text)) for text in result.texts]
        best = overlaps.index(max(overlaps))
        citation = {
            "type": "search_result_location",
            "source": result.source,
            "title": result.title,
            "cited_text": result.texts[best],
            "search_result_index": result.index,
            "start_block_index": best,
            "end_block_index": best + 1,
        }
        pieces.append((_statement(result.texts[best]), citation))
        pieces.append(("; " if position < len(chosen) - 1 else f". {closer}", None))
    return pieces
