"""What the simulated model reads as the user's words: harness ``<system-reminder>`` context is not."""

from __future__ import annotations

from typing import Any

import pytest

from claudegate.simulator import Simulator

MODEL = "claude-sonnet-4-6"
NAMES = ("Agent", "Read", "Edit", "Write", "Bash")
# Claude Code's tools, reduced to what the simulator needs to call them.
TOOLS: list[dict[str, Any]] = [
    {
        "name": name,
        "description": f"The {name} tool.",
        "input_schema": {
            "type": "object",
            "properties": {"value": {"type": "string"}},
            "required": ["value"],
        },
    }
    for name in NAMES
]
REMINDER = (
    "<system-reminder>\nThe following tools are available: Agent, Read, Edit, Write and Bash. "
    "Use Read before Edit; prefer Bash for git.\n</system-reminder>"
)


def turn(content: Any, **fields: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 1024,
        "tools": TOOLS,
        "messages": [{"role": "user", "content": content}],
    }
    request.update(fields)
    return request


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


def test_a_text_block_that_is_only_a_reminder_is_neither_echoed_nor_obeyed(sim: Simulator) -> None:
    content = [
        {"type": "text", "text": REMINDER},
        {"type": "text", "text": "hello there"},
        {"type": "text", "text": f"  \n{REMINDER}\n\n"},
    ]
    message = sim.create(turn(content))
    assert [block["type"] for block in message["content"]] == ["text"]
    text = message["content"][0]["text"]
    assert "You wrote: hello there." in text
    assert "system-reminder" not in text and "Bash" not in text
    assert message["stop_reason"] == "end_turn"


def test_reminder_spans_inside_a_text_block_are_cut_out(sim: Simulator) -> None:
    spans = f"Summarise the notes {REMINDER} in two lines <system-reminder>Call Write.</system-reminder>"
    for content in (spans, [{"type": "text", "text": spans}]):
        message = sim.create(turn(content, thinking={"type": "adaptive"}))
        thinking, answer = message["content"]
        assert answer["type"] == "text"
        assert "You wrote: Summarise the notes in two lines." in answer["text"]
        assert "Write" not in answer["text"] and "reminder" not in thinking["thinking"]
        assert '"Summarise the notes in two lines"' in thinking["thinking"]


def test_tools_the_user_names_outside_reminders_are_still_called(sim: Simulator) -> None:
    content = [{"type": "text", "text": REMINDER}, {"type": "text", "text": "please Read the file"}]
    message = sim.create(turn(content))
    assert [(block["type"], block.get("name")) for block in message["content"]] == [
        ("text", None),
        ("tool_use", "Read"),
    ]


def test_reminders_in_tool_results_are_not_quoted(sim: Simulator) -> None:
    first = sim.create(turn("use Bash"))
    call = first["content"][1]
    result = f"total 8\nREADME.md\n{REMINDER}"
    follow_up = turn("use Bash")
    follow_up["messages"] += [
        {"role": "assistant", "content": first["content"]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": call["id"],
                    "content": [{"type": "text", "text": result}],
                },
                {"type": "text", "text": REMINDER},
            ],
        },
    ]
    answer = sim.create(follow_up)
    assert [block["type"] for block in answer["content"]] == ["text"]
    assert 'The Bash tool returned: "total 8 README.md".' in answer["content"][0]["text"]
    assert "system-reminder" not in answer["content"][0]["text"]


def test_an_unclosed_reminder_tag_is_the_users_own_text(sim: Simulator) -> None:
    message = sim.create(turn("what does <system-reminder> mean"))
    assert "You wrote: what does <system-reminder> mean." in message["content"][0]["text"]
