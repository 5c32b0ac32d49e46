"""Reasoning both ways: efforts -> thinking budgets, thinking -> ``reasoning_content`` and back."""

from __future__ import annotations

from typing import Any

import pytest

from claudegate.translate import (
    EFFORT_BUDGETS,
    MessagesToChatStream,
    chat_request_to_messages,
    message_to_chat_completion,
    messages_request_to_chat,
)


def chat(**fields: Any) -> dict[str, Any]:
    return chat_request_to_messages(
        {"model": "m", "messages": [{"role": "user", "content": "Hi"}], **fields}, default_max_tokens=4096
    )


@pytest.mark.parametrize("effort", sorted(EFFORT_BUDGETS))
def test_an_effort_without_a_maximum_adds_its_budget_to_the_default(effort: str) -> None:
    result = chat(reasoning_effort=effort)
    budget = EFFORT_BUDGETS[effort]
    assert result["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert result["max_tokens"] == 4096 + budget


def test_the_budget_table_grows_with_the_effort() -> None:
    order = ["minimal", "low", "medium", "high", "xhigh", "max"]
    budgets = [EFFORT_BUDGETS[effort] for effort in order]
    assert budgets == sorted(budgets) and budgets[0] == 1024


def test_an_explicit_maximum_stays_and_the_budget_fits_below_it() -> None:
    result = chat(reasoning_effort="high", max_completion_tokens=5000)
    assert result["max_tokens"] == 5000 and result["thinking"]["budget_tokens"] == 4999
    small = chat(reasoning_effort="high", max_completion_tokens=900)
    assert small["max_tokens"] == 900 and "thinking" not in small


def test_none_turns_reasoning_off_and_the_reasoning_object_is_read_first() -> None:
    assert "thinking" not in chat(reasoning_effort="none")
    assert chat(reasoning={"effort": "low"}, reasoning_effort="high")["thinking"]["budget_tokens"] == 2048
    assert chat(reasoning={"max_tokens": 3000})["thinking"]["budget_tokens"] == 3000
    assert chat(reasoning={"enabled": True})["thinking"]["budget_tokens"] == EFFORT_BUDGETS["medium"]
    assert "thinking" not in chat(reasoning={"summary": "auto"})
    adaptive = chat(thinking={"type": "adaptive"}, reasoning_effort="high")
    assert adaptive["thinking"] == {"type": "adaptive"} and adaptive["max_tokens"] == 4096


@pytest.mark.parametrize(
    ("thinking", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, "minimal"),
        ({"type": "enabled", "budget_tokens": 1500}, "low"),
        ({"type": "enabled", "budget_tokens": 8192}, "medium"),
        ({"type": "enabled", "budget_tokens": 9000}, "high"),
        ({"type": "adaptive"}, None),
        ({"type": "disabled"}, None),
    ],
)
def test_thinking_to_an_openai_upstream_is_a_reasoning_effort(
    thinking: dict[str, Any], effort: str | None
) -> None:
    body = {
        "model": "m",
        "max_tokens": 20000,
        "thinking": thinking,
        "messages": [{"role": "user", "content": "x"}],
    }
    assert messages_request_to_chat(body).get("reasoning_effort") == effort


THINKING: dict[str, Any] = {"type": "thinking", "thinking": "Weigh the tide.", "signature": "c2lnLTE="}
REPLY: dict[str, Any] = {
    "id": "msg_1",
    "model": "claude",
    "content": [THINKING, {"type": "text", "text": "High water at two."}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 5, "output_tokens": 7},
}


def test_the_signature_survives_a_round_trip_through_an_openai_client() -> None:
    message = message_to_chat_completion(REPLY, created=0)["choices"][0]["message"]
    assert message["reasoning_content"] == "Weigh the tide."
    assert message["reasoning_signature"] == "c2lnLTE="
    replayed = chat_request_to_messages(
        {"messages": [{"role": "user", "content": "When?"}, message, {"role": "user", "content": "Sure?"}]}
    )
    assert replayed["messages"][1] == {"role": "assistant", "content": [THINKING, REPLY["content"][1]]}


def test_unsigned_reasoning_is_not_replayed() -> None:
    turn = {"role": "assistant", "content": "Two.", "reasoning_content": "guess"}
    result = chat_request_to_messages({"messages": [{"role": "user", "content": "When?"}, turn]})
    assert result["messages"][1] == {"role": "assistant", "content": "Two."}


def test_only_the_first_thinking_blocks_signature_is_streamed() -> None:
    stream = MessagesToChatStream(created=0)
    start: dict[str, Any] = {
        "type": "message_start",
        "message": {**REPLY, "content": [], "stop_reason": None},
    }
    events = [start]
    for index in (0, 1):
        events += [
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {**THINKING, "thinking": "", "signature": ""},
            },
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "thinking_delta", "thinking": f"t{index}"},
            },
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "signature_delta", "signature": f"s{index}"},
            },
            {"type": "content_block_stop", "index": index},
        ]
    events += [
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}},
        {"type": "message_stop"},
    ]
    deltas = [
        chunk["choices"][0]["delta"] for event in events for chunk in stream.feed(event) if chunk["choices"]
    ]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "t0t1"
    assert [d["reasoning_signature"] for d in deltas if "reasoning_signature" in d] == ["s0"]
