"""A whole message replayed as events: the events accumulate back to it, and a cited text block
streams as the live API streams one (``citations: []`` at its start, its citations, then its text)."""

from __future__ import annotations

from typing import Any

from claudegate.simulator import Simulator
from claudegate.sse import MessageAccumulator, message_to_events, validate_anthropic_events

CITED: dict[str, Any] = {
    "model": "claude-sonnet-5",
    "max_tokens": 512,
    "messages": [
        {
            "role": "user",
            "content": [
                {
                    "type": "search_result",
                    "source": "guide.md#0",
                    "title": "guide.md",
                    "content": [{"type": "text", "text": "Budgets cap the spending of a key."}],
                    "citations": {"enabled": True},
                },
                {"type": "text", "text": "What caps spending?"},
            ],
        }
    ],
}


def test_a_cited_message_replays_as_the_simulator_streams_it() -> None:
    sim = Simulator()
    message = sim.create(CITED)
    events = message_to_events(message)
    validate_anthropic_events(events)
    accumulator = MessageAccumulator()
    for event in events:
        accumulator.feed(event)
    assert accumulator.message == message
    shape = [
        (event["type"], event.get("content_block") or event.get("delta", {}).get("type"))
        for event in events
        if event["type"].startswith("content_block_") and event["type"] != "content_block_stop"
    ]
    streamed = [
        (event["type"], event.get("content_block") or event.get("delta", {}).get("type"))
        for event in sim.events(CITED)
        if event["type"].startswith("content_block_") and event["type"] != "content_block_stop"
    ]
    squeezed = [item for i, item in enumerate(streamed) if i == 0 or item != streamed[i - 1]]
    assert shape == squeezed  # the same blocks and deltas, text in one delta instead of several
