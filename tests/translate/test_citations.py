"""Citations reach OpenAI Chat clients as ``message.citations`` (claudegate's extension): each
Anthropic citation with ``index`` and the range of ``content`` (``start_index``, ``end_index``)
it supports; streamed as ``delta.citations`` when the cited block ends, so the official SDK's
stream accumulation ends with the same list as the JSON answer."""

from __future__ import annotations

from typing import Any

from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from claudegate.simulator import Simulator
from claudegate.translate import MessagesToChatStream, message_to_chat_completion, validate_chat_stream


def found(source: str, text: str) -> dict[str, Any]:
    return {
        "type": "search_result",
        "source": source,
        "title": source.split("#")[0],
        "content": [{"type": "text", "text": text}],
        "citations": {"enabled": True},
    }


REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-5",
    "max_tokens": 512,
    "messages": [
        {
            "role": "user",
            "content": [
                found("budgets.md#0", "A budget caps the spending of a key per day."),
                found("limits.md#1", "Rate limits count requests and tokens per minute."),
                {"type": "text", "text": "What caps spending?"},
            ],
        }
    ],
}


def test_a_cited_message_lists_its_citations_with_their_ranges() -> None:
    message = Simulator().create(REQUEST)
    reply = message_to_chat_completion(message, created=0)["choices"][0]["message"]
    content = reply["content"]
    assert content == "".join(block["text"] for block in message["content"])
    citations = reply["citations"]
    assert [(c["index"], c["source"], c["search_result_index"]) for c in citations] == [
        (0, "budgets.md#0", 0),
        (1, "limits.md#1", 1),
    ]
    for entry, block in zip(citations, [b for b in message["content"] if b.get("citations")], strict=True):
        assert content[entry["start_index"] : entry["end_index"]] == block["text"]
        assert {k: v for k, v in entry.items() if k not in ("index", "start_index", "end_index")} == block[
            "citations"
        ][0]


def test_a_message_without_citations_has_no_citations_field() -> None:
    plain = {**REQUEST, "messages": [{"role": "user", "content": "hello"}]}
    assert "citations" not in message_to_chat_completion(Simulator().create(plain))["choices"][0]["message"]


def test_the_stream_carries_the_same_citations_as_the_json_answer() -> None:
    sim = Simulator()
    whole = message_to_chat_completion(sim.create(REQUEST), created=0)["choices"][0]["message"]
    stream = MessagesToChatStream(created=0)
    chunks = [chunk for event in sim.events(REQUEST) for chunk in stream.feed(event)] + stream.finish()
    validate_chat_stream(chunks)
    cited = [
        chunk["choices"][0]["delta"]["citations"]
        for chunk in chunks
        if "citations" in chunk["choices"][0]["delta"]
    ]
    assert [entry for entries in cited for entry in entries] == whole["citations"]
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    message = state.get_final_completion().choices[0].message
    assert message.content == whole["content"]
    assert message.model_extra is not None and message.model_extra["citations"] == whole["citations"]
