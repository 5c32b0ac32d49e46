"""Search hits as a model reads them: cut to a token budget, and as the Messages API's
``search_result`` content blocks (what the model cites with ``search_result_location``
citations).

>>> passages = fit_to_budget(hits, max_tokens=1500)
>>> blocks = [search_result_block(passage) for passage in passages]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from claudegate.retrieval._store import Hit

__all__ = ["CHARS_PER_TOKEN", "Passage", "fit_to_budget", "search_result_block"]

CHARS_PER_TOKEN = 4
"""The budget is estimated, as the simulator and the gateway's limits do."""


@dataclass(frozen=True, slots=True)
class Passage:
    """A hit and its text as handed to the model (the last one of a budget may be shortened)."""

    hit: Hit
    text: str

    @property
    def title(self) -> str:
        """The document's ``title`` metadata when it has one, else its id."""
        title = self.hit.metadata.get("title")
        return title if isinstance(title, str) and title else self.hit.document_id


def fit_to_budget(hits: Sequence[Hit], max_tokens: int) -> list[Passage]:
    """The hits, best first, whose texts together stay within about ``max_tokens`` tokens; the
    last one is cut at a word (and ends with ``…``) when it would not fit whole."""
    left = max_tokens * CHARS_PER_TOKEN
    passages: list[Passage] = []
    for hit in hits:
        if left <= 0:
            break
        text = hit.text if len(hit.text) <= left else hit.text[:left].rsplit(" ", 1)[0] + " …"
        left -= len(text)
        passages.append(Passage(hit, text))
    return passages


def search_result_block(passage: Passage) -> dict[str, Any]:
    """The passage as a ``search_result`` block with citations on: ``source`` is its chunk id
    (``<document id>#<n>``), ``title`` its document's title."""
    return {
        "type": "search_result",
        "source": passage.hit.chunk_id,
        "title": passage.title,
        "content": [{"type": "text", "text": passage.text}],
        "citations": {"enabled": True},
    }
