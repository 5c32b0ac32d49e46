"""Anthropic request -> OpenAI chat request (``messages_request_to_chat``)."""

from __future__ import annotations

from typing import Any

import pytest

from claudegate.translate import TranslationError, messages_request_to_chat

CACHE = {"type": "ephemeral"}
SCHEMA = {"type": "object", "properties": {"command": {"type": "string"}}}


def claude_code_like_request() -> dict[str, Any]:
    """The shape of what Claude Code sends (see PROTOCOL.md), trimmed."""
    return {
        "model": "claude-opus-4-8",
        "max_tokens": 64000,
        "stream": True,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "metadata": {"user_id": '{"session": "abc"}'},
        "top_k": 5,
        "betas": ["context-1m"],
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": CACHE},
            {"type": "text", "text": "Be careful."},
        ],
        "tools": [
            {"name": "Bash", "description": "Run a command", "input_schema": SCHEMA, "cache_control": CACHE},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "List files", "cache_control": CACHE}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "I should run ls.", "signature": "c2ln"},
                    {"type": "redacted_thinking", "data": "xyz"},
                    {"type": "text", "text": "Running "},
                    {"type": "text", "text": "ls.", "citations": []},
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {"q": "x"},
                    },
                    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": "a.txt\nb.txt",
                        "is_error": False,
                    },
                    {"type": "text", "text": "Now read a.txt"},
                ],
            },
            {"role": "system", "content": "The user switched to plan mode."},
        ],
    }


def test_a_claude_code_request_translates_without_failing() -> None:
    result = messages_request_to_chat(claude_code_like_request())
    assert result == {
        "model": "claude-opus-4-8",
        "messages": [
            {"role": "system", "content": "You are Claude Code.\nBe careful."},
            {"role": "user", "content": "List files"},
            {
                "role": "assistant",
                "content": "Running ls.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt\nb.txt"},
            {"role": "user", "content": "Now read a.txt"},
            {"role": "system", "content": "The user switched to plan mode."},
        ],
        "max_completion_tokens": 64000,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": '{"session": "abc"}',
        "tools": [
            {
                "type": "function",
                "function": {"name": "Bash", "description": "Run a command", "parameters": SCHEMA},
            }
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
    }


def test_tool_results_become_tool_messages_in_order_and_images_follow() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
    body = {
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t2",
                        "content": [{"type": "text", "text": "two"}, image],
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "one"}],
                    },
                    {"type": "tool_result", "tool_use_id": "t3"},
                ],
            }
        ],
    }
    assert messages_request_to_chat(body)["messages"] == [
        {"role": "tool", "tool_call_id": "t2", "content": "two"},
        {"role": "tool", "tool_call_id": "t1", "content": "one"},
        {"role": "tool", "tool_call_id": "t3", "content": ""},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}],
        },
    ]


def test_a_failed_tool_result_still_reads_as_a_failure() -> None:
    results = [
        {"type": "tool_result", "tool_use_id": "t1", "content": "file not found", "is_error": True},
        {
            "type": "tool_result",
            "tool_use_id": "t2",
            "content": [{"type": "text", "text": "exit 1"}, {"type": "text", "text": "no such command"}],
            "is_error": True,
        },
        {"type": "tool_result", "tool_use_id": "t3", "is_error": True},
        {"type": "tool_result", "tool_use_id": "t4", "content": "fine", "is_error": False},
    ]
    body = {"max_tokens": 10, "messages": [{"role": "user", "content": results}]}
    assert messages_request_to_chat(body)["messages"] == [
        {"role": "tool", "tool_call_id": "t1", "content": "Error: file not found"},
        {
            "role": "tool",
            "tool_call_id": "t2",
            "content": [
                {"type": "text", "text": "Error: exit 1"},
                {"type": "text", "text": "no such command"},
            ],
        },
        {"role": "tool", "tool_call_id": "t3", "content": "Error"},
        {"role": "tool", "tool_call_id": "t4", "content": "fine"},
    ]


def test_images_and_documents_go_back_to_urls_and_files() -> None:
    content = [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
    ]
    (message,) = messages_request_to_chat({"messages": [{"role": "user", "content": content}]})["messages"]
    assert message["content"] == [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {
            "type": "file",
            "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBE"},
        },
        {"type": "text", "text": "plain words"},
    ]


def test_search_results_become_text_naming_their_source() -> None:
    found = {
        "type": "search_result",
        "source": "guide.md#2",
        "title": "guide.md",
        "content": [{"type": "text", "text": "Budgets cap spending."}, {"type": "text", "text": "Per day."}],
        "citations": {"enabled": True},
    }
    text = "Search result (source: guide.md#2; title: guide.md)\nBudgets cap spending.\n\nPer day."
    body = {
        "messages": [
            {"role": "user", "content": [found, {"type": "text", "text": "What caps spending?"}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "search", "input": {}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [found]}]},
        ]
    }
    assert messages_request_to_chat(body)["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": text}, {"type": "text", "text": "What caps spending?"}],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "search", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": text},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "tool", "name": "Bash"},
            {"tool_choice": {"type": "function", "function": {"name": "Bash"}}},
        ),
        ({"type": "tool", "name": "web_search"}, {}),
        (
            {"type": "any", "disable_parallel_tool_use": True},
            {"tool_choice": "required", "parallel_tool_calls": False},
        ),
    ],
)
def test_tool_choice_maps_back(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    body = claude_code_like_request()
    body["tool_choice"] = choice
    result = messages_request_to_chat(body)
    assert {k: result[k] for k in ("tool_choice", "parallel_tool_calls") if k in result} == expected


def test_only_server_tools_means_no_tools_at_all() -> None:
    body = {
        "messages": [],
        "tools": [{"type": "bash_20250124", "name": "bash"}],
        "tool_choice": {"type": "any"},
    }
    assert messages_request_to_chat(body) == {"messages": []}


def test_an_assistant_turn_with_nothing_mappable_is_left_out() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "...", "signature": "s"}]},
            {"role": "user", "content": "Again"},
        ],
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "top_p": 0.5,
    }
    result = messages_request_to_chat(body)
    assert [m["role"] for m in result["messages"]] == ["user", "user"]
    assert (result["stop"], result["temperature"], result["top_p"]) == (["END"], 0.2, 0.5)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ],
)
def test_malformed_requests_are_reported(body: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError) as caught:
        messages_request_to_chat(body)
    assert caught.value.field == field
